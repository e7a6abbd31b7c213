package handlers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/store"
)

// Slots holds each tenant to its tier's concurrent tasks across every worker and gives it
// its tier's weight in fair dispatch: it is the Admit and the Share of a worker's
// events.FairConfig. A slot is a holder of the tenant's limits.Semaphore, leased for Lease
// and renewed by the task's heartbeat (through Msg.Permit), so a worker killed mid-task frees
// its slots when their leases end. The worker takes the slots before it fetches a tenant's
// tasks: a task beyond the tenant's limit stays in the stream, charged nothing and holding
// no handler that another tenant's task could use.
type Slots struct {
	// Semaphore holds the slots (limits.RedisSemaphore across replicas).
	Semaphore limits.Semaphore
	// Tiers gives each tier's Concurrent and Weight (a tier it lacks gets the free tier's).
	Tiers limits.Tiers
	// Tenants looks a tenant's tier up (a TenantCache, in a worker).
	Tenants TenantGetter
	// Lease is how long a slot outlives its last renewal; match the task lease (30s).
	Lease time.Duration
	// FailOpen admits tasks without a slot while the Semaphore's store is unavailable;
	// otherwise they wait in the stream until it is back. Either way Outages hears of it.
	FailOpen bool
	// Outages counts and logs the decisions the Semaphore's store could not make (nil: not
	// counted).
	Outages *limits.Outages

	once   sync.Once
	worker string // names this Slots' holders
	seq    atomic.Uint64
}

var _ events.Admitter = (*Slots)(nil)

// slotKey is a tenant's semaphore: the tenant is in the key.
func slotKey(tenantID string) string { return tenantID + ":running" }

// Share implements events.FairConfig.Share: the tenant's tier's weight and concurrency.
func (s *Slots) Share(ctx context.Context, tenantID string) (events.Share, error) {
	tier, err := s.tier(ctx, tenantID)
	if err != nil {
		return events.Share{}, err
	}
	return events.Share{Weight: tier.Weight, Limit: tier.Concurrent}, nil
}

// Admit implements events.Admitter: it takes up to n of the tenant's slots in one decision.
func (s *Slots) Admit(ctx context.Context, tenantID string, n int) ([]events.Permit, error) {
	if n <= 0 {
		return nil, nil
	}
	tier, err := s.tier(ctx, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		// No such tenant: let the tasks through to the handler, which drops them.
		return s.unheld(n), nil
	}
	if err != nil {
		return nil, err
	}
	s.once.Do(func() { s.worker = rand.Text()[:12] })
	key := slotKey(tenantID)
	holders := make([]string, n)
	for i := range holders {
		holders[i] = s.worker + "-" + strconv.FormatUint(s.seq.Add(1), 36)
	}
	got, err := s.Semaphore.AcquireN(ctx, key, holders, tier.Concurrent, s.lease())
	if err != nil {
		if !errors.Is(err, limits.ErrUnavailable) {
			return nil, fmt.Errorf("take slots of %s: %w", tenantID, err)
		}
		if s.Outages != nil {
			s.Outages.Record(ctx, limits.LimitConcurrency, s.FailOpen, err)
		}
		if !s.FailOpen {
			return nil, nil
		}
		return s.unheld(n), nil
	}
	permits := make([]events.Permit, got)
	for i := range permits {
		permits[i] = &slot{s: s, key: key, holder: holders[i]}
	}
	return permits, nil
}

// unheld returns n permits that hold no slot.
func (s *Slots) unheld(n int) []events.Permit {
	permits := make([]events.Permit, n)
	for i := range permits {
		permits[i] = &slot{s: s}
	}
	return permits
}

func (s *Slots) lease() time.Duration {
	if s.Lease <= 0 {
		return 30 * time.Second
	}
	return s.Lease
}

// slot is one task's permit; without a key it was admitted while the store was down and
// holds nothing.
type slot struct {
	s           *Slots
	key, holder string
}

// Renew implements events.Permit. A store hiccup is not a lost slot.
func (p *slot) Renew(ctx context.Context) bool {
	if p.key == "" {
		return true
	}
	ok, err := p.s.Semaphore.Renew(ctx, p.key, p.holder, p.s.lease())
	return ok || err != nil
}

// Release implements events.Permit; if the release is lost, the lease frees the slot.
func (p *slot) Release() {
	if p.key == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.s.Semaphore.Release(ctx, p.key, p.holder)
}

// tier returns the tenant's tier.
func (s *Slots) tier(ctx context.Context, tenantID string) (limits.Tier, error) {
	t, err := s.Tenants.GetTenant(ctx, tenantID)
	if err != nil {
		return limits.Tier{}, fmt.Errorf("tier of %s: %w", tenantID, err)
	}
	tier, ok := s.Tiers[t.Tier]
	if !ok {
		tier = s.Tiers["free"]
	}
	if tier.Weight <= 0 {
		tier.Weight = max(tier.Concurrent, 1)
	}
	return tier, nil
}
