package events_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/store"
)

// tenantTask is a task of the given tenant.
func tenantTask(tenant string, i int) *store.Task {
	return &store.Task{ID: fmt.Sprintf("tsk_%s_%06d", tenant, i), TenantID: tenant, Agent: "echo",
		Status: store.StatusQueued, TraceID: traceID, CreatedAt: time.Now()}
}

// publishBacklog stores count tasks of a tenant, waiting for every ack, without wake notices.
func publishBacklog(t testing.TB, js jetstream.JetStream, n events.Names, tenant string, count int) {
	t.Helper()
	tasks := make([]*store.Task, count)
	for i := range tasks {
		tasks[i] = tenantTask(tenant, i)
	}
	publishAll(t, js, n, tasks)
}

// startFair starts a fair-dispatch Runner on n's tasks stream, stopped when the test ends.
func startFair(t testing.TB, js jetstream.JetStream, fair events.FairConfig, concurrency int, h events.Handler) *events.Runner {
	t.Helper()
	if fair.Poll == 0 {
		fair.Poll = 50 * time.Millisecond
	}
	r, err := events.NewRunner(js, events.RunnerConfig{Fair: &fair, Concurrency: concurrency, Logger: testLogger(t),
		Backoff: func(uint64) time.Duration { return 10 * time.Millisecond }}, h)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return r
}

// started records which tenant's message each handler started, in order.
type started struct {
	mu     sync.Mutex
	order  []string
	at     map[string]time.Time // by message id
	active map[string]int       // running now, by tenant
	peak   map[string]int       // most running at once, by tenant
}

func newStarted() *started {
	return &started{at: map[string]time.Time{}, active: map[string]int{}, peak: map[string]int{}}
}

// handler runs each message for d, recording it.
func (s *started) handler(d time.Duration) events.Handler {
	return func(ctx context.Context, m *events.Msg) error {
		tenant := m.Header.Get(events.HeaderTenant)
		s.mu.Lock()
		s.order = append(s.order, tenant)
		s.at[taskID(m)] = time.Now()
		s.active[tenant]++
		s.peak[tenant] = max(s.peak[tenant], s.active[tenant])
		s.mu.Unlock()
		time.Sleep(d)
		s.mu.Lock()
		s.active[tenant]--
		s.mu.Unlock()
		return nil
	}
}

func (s *started) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order)
}

func (s *started) startedAt(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.at[id]
	return at, ok
}

// A tenant's task submitted behind another tenant's backlog of 1,000 starts at the next free
// handler, not after the backlog: the wake notice brings it at once.
func TestFairDispatchIdleTenantIsServedNext(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	publishBacklog(t, js, n, "ten_big", 1000)
	s := newStarted()
	// A slow poll: the small tenant's task is found by its wake notice.
	startFair(t, js, events.FairConfig{Names: n, Poll: time.Minute}, 4, s.handler(5*time.Millisecond))
	require.Eventually(t, func() bool { return s.count() >= 20 }, 10*time.Second, time.Millisecond)

	small := tenantTask("ten_small", 0)
	sent := time.Now()
	require.NoError(t, events.NewPublisher(js, n).PublishTask(context.Background(), small))
	var at time.Time
	require.Eventually(t, func() bool {
		var ok bool
		at, ok = s.startedAt(small.ID)
		return ok
	}, 5*time.Second, time.Millisecond, "the small tenant's task never started")
	wait := at.Sub(sent)
	s.mu.Lock()
	before := 0
	for _, id := range s.order {
		if id == "ten_big" {
			before++
		} else {
			break
		}
	}
	s.mu.Unlock()
	t.Logf("started %s after submission, after %d of the backlog", wait, before)
	require.Less(t, wait, 250*time.Millisecond, "waited behind the backlog")
	require.Less(t, before, 1000-50, "the backlog ran first")
}

// Without a wake notice (lost, or a publisher that sends none) the task is found by the poll.
func TestFairDispatchPollFindsTasksWithoutWake(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	s := newStarted()
	startFair(t, js, events.FairConfig{Names: n, Poll: 100 * time.Millisecond}, 2, s.handler(0))
	time.Sleep(150 * time.Millisecond) // the first poll found nothing
	publishBacklog(t, js, n, "ten_a", 3)
	require.Eventually(t, func() bool { return s.count() == 3 }, 5*time.Second, 5*time.Millisecond)
}

// Two backlogged tenants share the handlers by weight: 3 to 1.
func TestFairDispatchSharesByWeight(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	publishBacklog(t, js, n, "ten_light", 300)
	publishBacklog(t, js, n, "ten_heavy", 300)
	s := newStarted()
	share := func(_ context.Context, tenant string) (events.Share, error) {
		if tenant == "ten_heavy" {
			return events.Share{Weight: 3}, nil
		}
		return events.Share{Weight: 1}, nil
	}
	startFair(t, js, events.FairConfig{Names: n, Share: share}, 4, s.handler(2*time.Millisecond))
	require.Eventually(t, func() bool { return s.count() >= 200 }, 20*time.Second, time.Millisecond)
	s.mu.Lock()
	heavy := 0
	for _, tenant := range s.order[:200] {
		if tenant == "ten_heavy" {
			heavy++
		}
	}
	s.mu.Unlock()
	t.Logf("heavy tenant: %d of the first 200", heavy)
	require.InDelta(t, 150, heavy, 12, "a weight of 3 against 1 is 3/4 of the starts")
}

// semAdmitter admits through a shared semaphore, as handlers.Slots does, and counts the
// permits it has out.
type semAdmitter struct {
	sem   limits.Semaphore
	limit int
	seq   atomic.Int64
	out   atomic.Int64
}

func (a *semAdmitter) Admit(ctx context.Context, tenant string, n int) ([]events.Permit, error) {
	holders := make([]string, n)
	for i := range holders {
		holders[i] = strconv.FormatInt(a.seq.Add(1), 10)
	}
	got, err := a.sem.AcquireN(ctx, tenant, holders, a.limit, time.Minute)
	if err != nil {
		return nil, err
	}
	permits := make([]events.Permit, got)
	for i := range permits {
		a.out.Add(1)
		permits[i] = &semPermit{a: a, key: tenant, holder: holders[i]}
	}
	return permits, nil
}

type semPermit struct {
	a           *semAdmitter
	key, holder string
	released    atomic.Bool
}

func (p *semPermit) Renew(ctx context.Context) bool {
	ok, _ := p.a.sem.Renew(ctx, p.key, p.holder, time.Minute)
	return ok
}

func (p *semPermit) Release() {
	if !p.released.CompareAndSwap(false, true) {
		panic("permit released twice")
	}
	p.a.out.Add(-1)
	_ = p.a.sem.Release(context.Background(), p.key, p.holder)
}

// Three Runners sharing an Admitter with a limit of 2 per tenant never run more than 2 of a
// tenant's tasks at once, fetch none they cannot run (no redelivery), and meanwhile run
// another tenant's tasks; every permit comes back.
func TestFairDispatchAdmitsWithinTheLimitAcrossRunners(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	adm := &semAdmitter{sem: limits.NewMemorySemaphore(nil), limit: 2}
	s := newStarted()
	var redelivered atomic.Int64
	h := s.handler(20 * time.Millisecond)
	for range 3 {
		js, _ := natstest.JetStream(t)
		startFair(t, js, events.FairConfig{Names: n, Admit: adm}, 8, func(ctx context.Context, m *events.Msg) error {
			if m.NumDelivered > 1 {
				redelivered.Add(1)
			}
			require.NotNil(t, m.Permit)
			return h(ctx, m)
		})
	}
	publishBacklog(t, js, n, "ten_a", 30)
	publishBacklog(t, js, n, "ten_b", 30)
	require.Eventually(t, func() bool { return s.count() == 60 }, 20*time.Second, 5*time.Millisecond)
	s.mu.Lock()
	require.Equal(t, 2, s.peak["ten_a"], "tenant a at once")
	require.Equal(t, 2, s.peak["ten_b"], "tenant b at once")
	s.mu.Unlock()
	require.Zero(t, redelivered.Load(), "a message was fetched and put back")
	require.Eventually(t, func() bool { return adm.out.Load() == 0 }, 5*time.Second, 5*time.Millisecond, "permits not released")
	for _, tenant := range []string{"ten_a", "ten_b"} {
		held, err := adm.sem.Count(context.Background(), tenant)
		require.NoError(t, err)
		require.Zero(t, held)
	}
}

// A tenant's consumer removed by the server (inactive) is created again when its tasks
// come back.
func TestFairDispatchRecreatesAGoneConsumer(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	s := newStarted()
	startFair(t, js, events.FairConfig{Names: n}, 2, s.handler(0))
	pub := events.NewPublisher(js, n)
	require.NoError(t, pub.PublishTask(context.Background(), tenantTask("ten_a", 0)))
	require.Eventually(t, func() bool { return s.count() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, js.DeleteConsumer(context.Background(), n.TasksStream(), n.TaskConsumer("ten_a")))
	require.NoError(t, pub.PublishTask(context.Background(), tenantTask("ten_a", 1)))
	require.Eventually(t, func() bool { return s.count() == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return streamMsgs(t, js, n.TasksStream()) == 0 }, 5*time.Second, 5*time.Millisecond)
}

// A tenant quiet for Inactive is forgotten, and its consumer removed by the server; its next
// task brings both back.
func TestFairDispatchForgetsQuietTenants(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	s := newStarted()
	startFair(t, js, events.FairConfig{Names: n, Poll: 20 * time.Millisecond, Inactive: 300 * time.Millisecond}, 2, s.handler(0))
	pub := events.NewPublisher(js, n)
	require.NoError(t, pub.PublishTask(context.Background(), tenantTask("ten_a", 0)))
	require.Eventually(t, func() bool { return s.count() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		_, err := js.Consumer(context.Background(), n.TasksStream(), n.TaskConsumer("ten_a"))
		return errors.Is(err, jetstream.ErrConsumerNotFound)
	}, 10*time.Second, 50*time.Millisecond, "the server keeps an inactive consumer")
	require.NoError(t, pub.PublishTask(context.Background(), tenantTask("ten_a", 1)))
	require.Eventually(t, func() bool { return s.count() == 2 }, 5*time.Second, 5*time.Millisecond)
}

// Stopping a Runner mid-backlog loses nothing: what did not run stays in the stream, and
// every permit comes back.
func TestFairDispatchStopKeepsTheRest(t *testing.T) {
	t.Parallel()
	js, n := natstest.Setup(t, nil)
	publishBacklog(t, js, n, "ten_a", 200)
	adm := &semAdmitter{sem: limits.NewMemorySemaphore(nil), limit: 50}
	s := newStarted()
	fair := events.FairConfig{Names: n, Admit: adm, Poll: 20 * time.Millisecond}
	r, err := events.NewRunner(js, events.RunnerConfig{Fair: &fair, Concurrency: 16, Logger: testLogger(t)}, s.handler(5*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	require.Eventually(t, func() bool { return s.count() >= 30 }, 10*time.Second, time.Millisecond)
	require.NoError(t, r.Stop(context.Background()))
	ran := s.count()
	require.Less(t, ran, 200)
	require.EqualValues(t, 200-ran, streamMsgs(t, js, n.TasksStream()), "ran %d", ran)
	require.Zero(t, adm.out.Load(), "permits not released")
}

func TestFairConfigValidates(t *testing.T) {
	t.Parallel()
	js, _ := natstest.JetStream(t)
	h := func(context.Context, *events.Msg) error { return nil }
	for _, fair := range []events.FairConfig{
		{},
		{Names: events.Names{Prefix: "a.b"}},
		{Names: events.Names{Prefix: "ok"}, Poll: -1},
		{Names: events.Names{Prefix: "ok"}, Quantum: -1},
	} {
		_, err := events.NewRunner(js, events.RunnerConfig{Fair: &fair}, h)
		require.ErrorIs(t, err, events.ErrInvalid, "%+v", fair)
	}
}
