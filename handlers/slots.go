package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/limits"
)

// Slots holds each tenant to its tier's concurrent tasks across every worker: a task runs
// only while it holds one of the tenant's slots of a limits.Semaphore, leased and renewed
// with the task's heartbeat, so a worker killed mid-task frees its slots when their leases
// end. A task that finds no free slot waits a little in the worker — at most as many of a
// tenant's tasks as its limit, and at most Wait — taking a slot as soon as one of the
// tenant's tasks here ends (or, polled, anywhere); beyond that it goes back to the queue,
// without an attempt charged. So a tenant's backlog occupies at most twice its limit of a
// worker's handlers, and other tenants' tasks keep running.
type Slots struct {
	// Semaphore holds the slots (limits.RedisSemaphore across replicas).
	Semaphore limits.Semaphore
	// Tiers gives each tier's Concurrent (a tier it lacks gets the free tier's).
	Tiers limits.Tiers
	// Tenants looks a tenant's tier up (a TenantCache, in a worker).
	Tenants TenantGetter
	// FailOpen runs tasks without a slot while the Semaphore's store is unavailable (the
	// outage is logged and counted); otherwise they wait in the queue.
	FailOpen bool
	// Retry is about how long a task without a slot waits before it comes back (1s; the
	// wait is jittered so a tenant's backlog does not return all at once).
	Retry time.Duration
	// Wait is the longest a task waits in the worker for a slot (2s).
	Wait time.Duration
	// Logger hears of outages of the Semaphore's store, once per 10 seconds at most.
	Logger *slog.Logger

	mu      sync.Mutex
	waiters map[string]*waiters // by tenant
	down    atomic.Int64
	logged  atomic.Int64 // unix nanoseconds of the last outage log line
}

// waiters are a tenant's tasks waiting in this worker for a slot; freed is closed (and
// replaced) whenever one of the tenant's slots is released here.
type waiters struct {
	n     int
	freed chan struct{}
}

// slotPoll is how often a waiting task tries again without a local release (a slot freed
// by another worker, or an expired lease).
const slotPoll = 200 * time.Millisecond

// slotKey is a tenant's semaphore: the tenant is in the key.
func slotKey(tenantID string) string { return tenantID + ":running" }

// take acquires a slot for one delivery of a task. The holder names the delivery, so a
// duplicate delivery never renews or releases another's slot. release is never nil.
func (s *Slots) take(ctx context.Context, tm events.TaskMessage, delivery uint64, lease time.Duration) (renew func(context.Context) bool, release func(), err error) {
	noop := func() {}
	limit, err := s.concurrent(ctx, tm.TenantID)
	if err != nil {
		return nil, noop, err
	}
	key, holder := slotKey(tm.TenantID), tm.TaskID+"#"+strconv.FormatUint(delivery, 10)
	ok, err := s.Semaphore.Acquire(ctx, key, holder, limit, lease)
	if err != nil {
		if !errors.Is(err, limits.ErrUnavailable) {
			return nil, noop, fmt.Errorf("take a slot of %s: %w", tm.TenantID, err)
		}
		s.outage(ctx, err)
		if s.FailOpen {
			return func(context.Context) bool { return true }, noop, nil
		}
		return nil, noop, events.Snooze(s.retry())
	}
	if !ok {
		if ok, err = s.wait(ctx, key, holder, tm.TenantID, limit, lease); err != nil || !ok {
			if ctx.Err() != nil {
				return nil, noop, events.Snooze(0) // shutting down: back to the queue at once
			}
			if err != nil && !errors.Is(err, limits.ErrUnavailable) {
				return nil, noop, fmt.Errorf("take a slot of %s: %w", tm.TenantID, err)
			}
			return nil, noop, events.Snooze(s.retry())
		}
	}
	renew = func(ctx context.Context) bool {
		ok, err := s.Semaphore.Renew(ctx, key, holder, lease)
		return ok || err != nil // a store hiccup is not a lost slot
	}
	release = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Semaphore.Release(ctx, key, holder) // if lost, the lease frees it
		s.freed(tm.TenantID)
	}
	return renew, release, nil
}

// wait waits for a slot of the tenant while fewer than limit of its tasks already wait here
// and Wait has not passed; ok reports whether the slot was taken.
func (s *Slots) wait(ctx context.Context, key, holder, tenantID string, limit int, lease time.Duration) (ok bool, err error) {
	s.mu.Lock()
	if s.waiters == nil {
		s.waiters = make(map[string]*waiters)
	}
	w := s.waiters[tenantID]
	if w == nil {
		w = &waiters{freed: make(chan struct{})}
		s.waiters[tenantID] = w
	}
	if w.n >= limit {
		s.mu.Unlock()
		return false, nil
	}
	w.n++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if w.n--; w.n == 0 && s.waiters[tenantID] == w {
			delete(s.waiters, tenantID)
		}
		s.mu.Unlock()
	}()

	maxWait := s.Wait
	if maxWait <= 0 {
		maxWait = 2 * time.Second
	}
	deadline := time.NewTimer(maxWait)
	defer deadline.Stop()
	poll := time.NewTicker(slotPoll)
	defer poll.Stop()
	for {
		s.mu.Lock()
		freed := w.freed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-deadline.C:
			return false, nil
		case <-freed:
		case <-poll.C:
		}
		if ok, err := s.Semaphore.Acquire(ctx, key, holder, limit, lease); err != nil || ok {
			return ok, err
		}
	}
}

// freed wakes the tenant's tasks waiting here for a slot.
func (s *Slots) freed(tenantID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.waiters[tenantID]; w != nil {
		close(w.freed)
		w.freed = make(chan struct{})
	}
}

// outage counts a decision the store could not make and logs it, once per 10 seconds.
func (s *Slots) outage(ctx context.Context, err error) {
	s.down.Add(1)
	now, last := time.Now().UnixNano(), s.logged.Load()
	if s.Logger == nil || now-last < int64(10*time.Second) || !s.logged.CompareAndSwap(last, now) {
		return
	}
	mode := "closed"
	if s.FailOpen {
		mode = "open"
	}
	s.Logger.WarnContext(ctx, "concurrency limits unavailable", "limit", "concurrency", "failing", mode, "error", err)
}

// retry is the jittered wait of a task without a slot: between Retry/2 and Retry.
func (s *Slots) retry() time.Duration {
	r := s.Retry
	if r <= 0 {
		r = time.Second
	}
	return r/2 + rand.N(r/2+1)
}

// concurrent returns the tenant's concurrent-task limit.
func (s *Slots) concurrent(ctx context.Context, tenantID string) (int, error) {
	t, err := s.Tenants.GetTenant(ctx, tenantID)
	if err != nil {
		return 0, fmt.Errorf("tier of %s: %w", tenantID, err)
	}
	tier, ok := s.Tiers[t.Tier]
	if !ok {
		tier = s.Tiers["free"]
	}
	return tier.Concurrent, nil
}

// Unavailable counts the slots the Semaphore's store could not decide, for metrics.
func (s *Slots) Unavailable() int64 { return s.down.Load() }
