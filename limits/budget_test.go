package limits_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/limits/limitstest"
)

var (
	_ limits.Budget = (*limits.RedisBudget)(nil)
	_ limits.Budget = (*limits.MemoryBudget)(nil)
)

func TestRedisBudget(t *testing.T) {
	t.Parallel()
	limitstest.RunBudget(t, func(t *testing.T) limits.Budget {
		return redisBudgetReplicas(t, 3)
	})
}

func TestMemoryBudget(t *testing.T) {
	t.Parallel()
	limitstest.RunBudget(t, func(*testing.T) limits.Budget {
		return limits.NewMemoryBudget(nil)
	})
}

// redisBudgetReplicas returns a ledger standing for n replicas: n RedisBudgets on their own
// clients sharing the test's key prefix. Calls go to the replicas in turn, so one call's
// reserve and settle land on different replicas.
func redisBudgetReplicas(t *testing.T, n int) limits.Budget {
	clients, prefix := replicaClients(t, n)
	r := &budgetReplicas{}
	for _, c := range clients {
		r.items = append(r.items, limits.NewRedisBudget(c, prefix))
	}
	return r
}

// budgetReplicas spreads calls over several ledgers sharing one store.
type budgetReplicas struct{ roundRobin[limits.Budget] }

func (r *budgetReplicas) Reserve(ctx context.Context, tenant, month, id string, amount, budget int64, ttl time.Duration) (bool, limits.BudgetState, error) {
	return r.pick().Reserve(ctx, tenant, month, id, amount, budget, ttl)
}

func (r *budgetReplicas) Settle(ctx context.Context, tenant, month, id string, actual int64) (limits.BudgetState, error) {
	return r.pick().Settle(ctx, tenant, month, id, actual)
}

func (r *budgetReplicas) Release(ctx context.Context, tenant, month, id string) (limits.BudgetState, error) {
	return r.pick().Release(ctx, tenant, month, id)
}

func (r *budgetReplicas) State(ctx context.Context, tenant, month string) (limits.BudgetState, error) {
	return r.pick().State(ctx, tenant, month)
}

func (r *budgetReplicas) Seed(ctx context.Context, tenant, month string, spent int64) (bool, limits.BudgetState, error) {
	return r.pick().Seed(ctx, tenant, month, spent)
}

func TestBudgetStateAllowedAndRemaining(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		spent, reserved int64
		budget          int64
		allowed         bool
		remaining       int64
	}{
		{"empty", 0, 0, 10, true, 10},
		{"spend below", 4, 0, 10, true, 6},
		{"reservations count", 4, 5, 10, true, 1},
		{"reached by reservations", 4, 6, 10, false, 0},
		{"reached by spend", 10, 0, 10, false, 0},
		{"over (a call cost more than reserved)", 12, 3, 10, false, 0},
		{"zero budget", 0, 0, 0, false, 0},
		{"unlimited", 1 << 60, 1 << 60, limits.UnlimitedBudget, true, limits.UnlimitedBudget},
	} {
		s := limits.BudgetState{SpentMicros: tc.spent, ReservedMicros: tc.reserved}
		require.Equal(t, tc.allowed, s.Allowed(tc.budget), "allowed: %s", tc.name)
		require.Equal(t, tc.remaining, s.Remaining(tc.budget), "remaining: %s", tc.name)
	}
}

func TestBudgetMonth(t *testing.T) {
	t.Parallel()
	// Months are UTC: 23:30 on Nov 30 in New York is already December.
	ny := time.FixedZone("EST", -5*3600)
	require.Equal(t, "2026-12", limits.BudgetMonth(time.Date(2026, 11, 30, 23, 30, 0, 0, ny)))
	require.Equal(t, "2026-11", limits.BudgetMonth(time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC)))
	require.Equal(t, "2027-01", limits.BudgetMonth(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)))
}

func TestRedisBudgetKeyLayoutAndExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, prefix := redistest.Client(t)
	b := limits.NewRedisBudget(c, prefix)
	now := time.Now().UTC()
	month := limits.BudgetMonth(now)
	key := b.Key("ten_a", month)
	require.Equal(t, prefix+":budget:{ten_a:"+month+"}", key)
	keys := []string{key, key + ":res", key + ":settled"}

	// A refusal on a new ledger writes nothing; neither does State.
	ok, _, err := b.Reserve(ctx, "ten_a", month, "c1", 5, 1, time.Minute)
	require.NoError(t, err)
	require.False(t, ok)
	_, err = b.State(ctx, "ten_a", month)
	require.NoError(t, err)
	require.Zero(t, c.Exists(ctx, keys...).Val(), "a refusal or a read created keys")

	_, _, err = b.Reserve(ctx, "ten_a", month, "c1", 5, 10, time.Minute)
	require.NoError(t, err)
	_, _, err = b.Reserve(ctx, "ten_a", month, "c2", 3, 10, time.Minute)
	require.NoError(t, err)
	_, err = b.Settle(ctx, "ten_a", month, "c2", 2)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"spent": "2", "reserved": "5", "r:c1": "5"}, c.HGetAll(ctx, key).Val())
	require.Equal(t, []string{"c1"}, c.ZRange(ctx, key+":res", 0, -1).Val())
	require.Equal(t, []string{"c2"}, c.ZRange(ctx, key+":settled", 0, -1).Val())

	// Expiries are in Redis's clock: the reservation's ttl and SettledIDTTL from now.
	tm, err := c.Time(ctx).Result()
	require.NoError(t, err)
	serverMS := float64(tm.UnixMilli())
	resExp := c.ZScore(ctx, key+":res", "c1").Val()
	require.InDelta(t, serverMS+float64(time.Minute.Milliseconds()), resExp, 2000)
	setExp := c.ZScore(ctx, key+":settled", "c2").Val()
	require.InDelta(t, serverMS+float64(limits.SettledIDTTL.Milliseconds()), setExp, 2000)

	// The keys expire BudgetRetention after the month ends.
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	want := start.AddDate(0, 1, 0).Add(limits.BudgetRetention).Unix()
	for _, k := range keys {
		got, err := c.ExpireTime(ctx, k).Result()
		require.NoError(t, err)
		require.Equal(t, want, int64(got/time.Second), "expiry of %s", k)
	}

	// A month past its retention is answered but not kept.
	ok, got, err := b.Reserve(ctx, "ten_a", "2020-01", "c1", 5, 10, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(5), got.ReservedMicros)
	require.Zero(t, c.Exists(ctx, b.Key("ten_a", "2020-01")).Val(), "a month long gone is kept")
}

func TestRedisBudgetPurgesExpiredReservations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, prefix := redistest.Client(t)
	b := limits.NewRedisBudget(c, prefix)
	month := limits.BudgetMonth(time.Now())
	key := b.Key("ten_a", month)

	// More than one purge batch of abandoned reservations, of zero and non-zero amounts,
	// expiring together.
	const abandoned, workers, ttl = 600, 6, 3 * time.Second
	var wg sync.WaitGroup
	errs := make(chan error, abandoned)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < abandoned; i += workers {
				ok, _, err := b.Reserve(ctx, "ten_a", month, fmt.Sprint("c", i), int64(i%3), limits.UnlimitedBudget, ttl)
				if err == nil && !ok {
					err = fmt.Errorf("c%d refused an unlimited reservation", i)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	ok, s, err := b.Reserve(ctx, "ten_a", month, "live", 7, limits.UnlimitedBudget, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, budgetState(0, abandoned+7), s, "reservations expired before the test could look")
	require.Eventually(t, func() bool {
		s, err := b.State(ctx, "ten_a", month)
		return err == nil && s.ReservedMicros == 7
	}, ttl+5*time.Second, 20*time.Millisecond, "the expired reservations still count")
	require.Equal(t, map[string]string{"reserved": "7", "r:live": "7"}, c.HGetAll(ctx, key).Val(), "expired reservations left fields behind")
	require.Equal(t, []string{"live"}, c.ZRange(ctx, key+":res", 0, -1).Val())
}

func TestRedisBudgetUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// A port nothing listens on: Redis is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	b := limits.NewRedisBudget(c, "agentic-test:down")
	month := limits.BudgetMonth(time.Now())

	ok, _, err := b.Reserve(ctx, "ten_a", month, "c1", 1, 10, time.Minute)
	require.ErrorIs(t, err, limits.ErrUnavailable)
	require.False(t, ok)
	_, err = b.Settle(ctx, "ten_a", month, "c1", 1)
	require.ErrorIs(t, err, limits.ErrUnavailable)
	_, err = b.Release(ctx, "ten_a", month, "c1")
	require.ErrorIs(t, err, limits.ErrUnavailable)
	_, err = b.State(ctx, "ten_a", month)
	require.ErrorIs(t, err, limits.ErrUnavailable)
	ok, _, err = b.Seed(ctx, "ten_a", month, 1)
	require.ErrorIs(t, err, limits.ErrUnavailable)
	require.False(t, ok)
	require.True(t, strings.HasPrefix(err.Error(), "budget seed: "), "error %q lacks its context", err)
}

// budgetClock is a clock tests move by hand.
type budgetClock struct {
	mu  sync.Mutex
	now time.Time
}

func newBudgetClock(at time.Time) *budgetClock { return &budgetClock{now: at} }

func (c *budgetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *budgetClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// budgetState is shorthand for an unseeded state.
func budgetState(spent, reserved int64) limits.BudgetState {
	return limits.BudgetState{SpentMicros: spent, ReservedMicros: reserved}
}

func TestMemoryBudgetReservationEndsExactly(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := newBudgetClock(time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC))
	b := limits.NewMemoryBudget(clock.Now)

	ok, _, err := b.Reserve(ctx, "ten_a", "2026-11", "c1", 10, 10, 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	clock.Advance(10*time.Second - time.Nanosecond)
	ok, s, err := b.Reserve(ctx, "ten_a", "2026-11", "c2", 1, 10, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "the reservation ended early")
	require.Equal(t, budgetState(0, 10), s)

	clock.Advance(time.Nanosecond)
	s, err = b.State(ctx, "ten_a", "2026-11")
	require.NoError(t, err)
	require.Equal(t, budgetState(0, 0), s, "the reservation outlived its ttl")
	ok, s, err = b.Reserve(ctx, "ten_a", "2026-11", "c2", 10, 10, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, budgetState(0, 10), s)
}

func TestMemoryBudgetRemembersSettledIDsForTheirTTL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := newBudgetClock(time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC))
	b := limits.NewMemoryBudget(clock.Now)

	_, err := b.Settle(ctx, "ten_a", "2026-11", "c1", 3)
	require.NoError(t, err)
	clock.Advance(limits.SettledIDTTL - time.Nanosecond)
	s, err := b.Settle(ctx, "ten_a", "2026-11", "c1", 3)
	require.NoError(t, err)
	require.Equal(t, budgetState(3, 0), s, "a settled id was forgotten early")

	clock.Advance(time.Nanosecond)
	s, err = b.Settle(ctx, "ten_a", "2026-11", "c1", 3)
	require.NoError(t, err)
	require.Equal(t, budgetState(6, 0), s, "a settled id outlived SettledIDTTL")
	_, _, settled := limits.MemoryBudgetSize(b)
	require.Equal(t, 1, settled, "the forgotten id is still in memory")
}

func TestMemoryBudgetForgetsSettledIDsWhenTheClockWentBack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := newBudgetClock(time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC))
	b := limits.NewMemoryBudget(clock.Now)

	// c2 is settled after c1 but, the clock having stepped back, is forgotten first.
	_, err := b.Settle(ctx, "ten_a", "2026-11", "c1", 1)
	require.NoError(t, err)
	clock.Advance(-time.Hour)
	_, err = b.Settle(ctx, "ten_a", "2026-11", "c2", 1)
	require.NoError(t, err)
	clock.Advance(limits.SettledIDTTL)
	s, err := b.Settle(ctx, "ten_a", "2026-11", "c2", 1)
	require.NoError(t, err)
	require.Equal(t, budgetState(3, 0), s, "c2 was remembered past SettledIDTTL")
	s, err = b.Settle(ctx, "ten_a", "2026-11", "c1", 1)
	require.NoError(t, err)
	require.Equal(t, budgetState(3, 0), s, "c1 was forgotten early")
}

func TestMemoryBudgetForgetsMonthsAfterRetention(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := newBudgetClock(end.Add(-time.Minute))
	b := limits.NewMemoryBudget(clock.Now)

	// Reserved before midnight UTC, settled after: the call belongs to November.
	ok, _, err := b.Reserve(ctx, "ten_a", "2026-11", "c1", 5, 10, time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	_, _, err = b.Seed(ctx, "ten_a", "2026-11", 4)
	require.NoError(t, err)
	clock.Advance(2 * time.Minute)
	s, err := b.Settle(ctx, "ten_a", "2026-11", "c1", 2)
	require.NoError(t, err)
	require.Equal(t, limits.BudgetState{SpentMicros: 6, Seeded: true}, s)

	clock.Advance(limits.BudgetRetention - time.Minute - time.Nanosecond)
	s, err = b.State(ctx, "ten_a", "2026-11")
	require.NoError(t, err)
	require.Equal(t, limits.BudgetState{SpentMicros: 6, Seeded: true}, s, "the ledger was forgotten within its retention")

	clock.Advance(time.Nanosecond)
	s, err = b.State(ctx, "ten_a", "2026-11")
	require.NoError(t, err)
	require.Equal(t, budgetState(0, 0), s, "the ledger outlived its retention")
	// A call on the gone month is answered, and leaves nothing behind.
	s, err = b.Settle(ctx, "ten_a", "2026-11", "c2", 1)
	require.NoError(t, err)
	require.Equal(t, budgetState(1, 0), s)
	ledgers, _, _ := limits.MemoryBudgetSize(b)
	require.Zero(t, ledgers, "a month past its retention is kept")
}

func TestMemoryBudgetMemoryIsBounded(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := newBudgetClock(time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC))
	b := limits.NewMemoryBudget(clock.Now)

	const tenants = 500
	for i := range tenants {
		tenant := fmt.Sprint("ten_", i)
		for j := range 4 {
			ok, _, err := b.Reserve(ctx, tenant, "2026-11", fmt.Sprint("c", j), 1, 100, time.Minute)
			require.NoError(t, err)
			require.True(t, ok)
		}
		_, err := b.Settle(ctx, tenant, "2026-11", "c0", 1)
		require.NoError(t, err)
	}
	ledgers, res, settled := limits.MemoryBudgetSize(b)
	require.Equal(t, tenants, ledgers)
	require.Equal(t, 3*tenants, res)
	require.Equal(t, tenants, settled)

	// Abandoned reservations go at the next sweep, whatever ledger is used.
	clock.Advance(2 * time.Minute)
	_, err := b.State(ctx, "ten_other", "2026-11")
	require.NoError(t, err)
	_, res, settled = limits.MemoryBudgetSize(b)
	require.Zero(t, res, "expired reservations stay in memory")
	require.Equal(t, tenants, settled)

	// Settled ids go once forgotten; the ledgers stay for their month.
	clock.Advance(limits.SettledIDTTL)
	_, err = b.State(ctx, "ten_other", "2026-11")
	require.NoError(t, err)
	ledgers, _, settled = limits.MemoryBudgetSize(b)
	require.Zero(t, settled, "forgotten settled ids stay in memory")
	require.Equal(t, tenants+1, ledgers)
	s, err := b.State(ctx, "ten_7", "2026-11")
	require.NoError(t, err)
	require.Equal(t, budgetState(1, 0), s)

	// The ledgers go after their month's retention.
	clock.Advance(30 * 24 * time.Hour)
	_, err = b.State(ctx, "ten_other", "2026-12")
	require.NoError(t, err)
	ledgers, _, _ = limits.MemoryBudgetSize(b)
	require.Equal(t, 1, ledgers, "ledgers past their retention stay in memory")
}

// budgetModel is the brute-force reference for the property test: every reservation not
// settled or released, live or not, and every settled id ever; liveness is computed from the
// clock at each question, never purged.
type budgetModel struct {
	now     time.Time
	ledgers map[[2]string]*budgetModelLedger
}

type budgetModelLedger struct {
	spent   int64
	seeded  bool
	res     map[string]budgetModelRes
	settled map[string]time.Time // id -> forgotten at
}

type budgetModelRes struct {
	amount int64
	exp    time.Time
}

func (m *budgetModel) ledger(tenant, month string) *budgetModelLedger {
	k := [2]string{tenant, month}
	l := m.ledgers[k]
	if l == nil {
		l = &budgetModelLedger{res: map[string]budgetModelRes{}, settled: map[string]time.Time{}}
		m.ledgers[k] = l
	}
	return l
}

func (m *budgetModel) reserved(l *budgetModelLedger) int64 {
	var sum int64
	for _, r := range l.res {
		if m.now.Before(r.exp) {
			sum += r.amount
		}
	}
	return sum
}

func (m *budgetModel) state(tenant, month string) limits.BudgetState {
	l := m.ledger(tenant, month)
	return limits.BudgetState{SpentMicros: l.spent, ReservedMicros: m.reserved(l), Seeded: l.seeded}
}

func (m *budgetModel) isSettled(l *budgetModelLedger, id string) bool {
	until, ok := l.settled[id]
	return ok && m.now.Before(until)
}

func (m *budgetModel) reserve(tenant, month, id string, amount, budget int64, ttl time.Duration) bool {
	l := m.ledger(tenant, month)
	if m.isSettled(l, id) {
		return true
	}
	if r, ok := l.res[id]; ok && m.now.Before(r.exp) {
		return true
	}
	if budget != limits.UnlimitedBudget && l.spent+m.reserved(l)+amount > budget {
		return false
	}
	l.res[id] = budgetModelRes{amount: amount, exp: m.now.Add(ttl)}
	return true
}

func (m *budgetModel) settle(tenant, month, id string, actual int64) {
	l := m.ledger(tenant, month)
	if m.isSettled(l, id) {
		return
	}
	delete(l.res, id)
	l.spent += actual
	l.settled[id] = m.now.Add(limits.SettledIDTTL)
}

func (m *budgetModel) release(tenant, month, id string) { delete(m.ledger(tenant, month).res, id) }

func (m *budgetModel) seed(tenant, month string, spent int64) bool {
	l := m.ledger(tenant, month)
	if l.seeded {
		return false
	}
	l.seeded = true
	l.spent += spent
	return true
}

// TestMemoryBudgetMatchesModel runs random sequences of reserves (under changing budgets,
// sometimes unlimited), settles, releases, seeds and clock moves over several ids and ledgers,
// and checks after every step that the ledger answers as the brute-force model does, that
// every ledger's state is the model's, and that no reservation is ever made past a limited
// budget. Ttls and clock moves are whole seconds, so reservations often end exactly at a step;
// rare long moves pass the sweep period and SettledIDTTL.
func TestMemoryBudgetMatchesModel(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	ledgers := [][2]string{{"ten_a", "2026-11"}, {"ten_b", "2026-11"}, {"ten_a", "2026-12"}}
	ids := []string{"c0", "c1", "c2", "c3", "c4", "c5"}
	const seeds, steps = 300, 300

	for seed := range uint64(seeds) {
		r := rand.New(rand.NewPCG(seed, 0xb0d6e7))
		clock := newBudgetClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		b := limits.NewMemoryBudget(clock.Now)
		m := &budgetModel{now: clock.Now(), ledgers: map[[2]string]*budgetModelLedger{}}
		var trace []string

		for step := range steps {
			lk := ledgers[r.IntN(len(ledgers))]
			tenant, month := lk[0], lk[1]
			id := ids[r.IntN(len(ids))]
			var op string
			switch p := r.IntN(100); {
			case p < 40:
				amount := int64(r.IntN(6))
				budget := int64(r.IntN(16))
				if r.IntN(10) == 0 {
					budget = limits.UnlimitedBudget
				}
				ttl := time.Duration(1+r.IntN(5)) * time.Second
				op = fmt.Sprintf("reserve(%s, %s, %s, %d, budget %d, %v)", tenant, month, id, amount, budget, ttl)
				before := m.state(tenant, month)
				want := m.reserve(tenant, month, id, amount, budget, ttl)
				got, s, err := b.Reserve(ctx, tenant, month, id, amount, budget, ttl)
				require.NoError(t, err)
				require.Equal(t, want, got, "seed %d step %d: %s\n%v", seed, step, op, trace)
				require.Equal(t, m.state(tenant, month), s, "seed %d step %d: state from %s\n%v", seed, step, op, trace)
				if got && budget != limits.UnlimitedBudget && s != before {
					require.LessOrEqual(t, s.SpentMicros+s.ReservedMicros, budget, "seed %d step %d: reserved past the budget: %s", seed, step, op)
				}
			case p < 62:
				actual := int64(r.IntN(6))
				op = fmt.Sprintf("settle(%s, %s, %s, %d)", tenant, month, id, actual)
				m.settle(tenant, month, id, actual)
				s, err := b.Settle(ctx, tenant, month, id, actual)
				require.NoError(t, err)
				require.Equal(t, m.state(tenant, month), s, "seed %d step %d: %s\n%v", seed, step, op, trace)
			case p < 77:
				op = fmt.Sprintf("release(%s, %s, %s)", tenant, month, id)
				m.release(tenant, month, id)
				s, err := b.Release(ctx, tenant, month, id)
				require.NoError(t, err)
				require.Equal(t, m.state(tenant, month), s, "seed %d step %d: %s\n%v", seed, step, op, trace)
			case p < 80:
				spent := int64(r.IntN(10))
				op = fmt.Sprintf("seed(%s, %s, %d)", tenant, month, spent)
				want := m.seed(tenant, month, spent)
				got, s, err := b.Seed(ctx, tenant, month, spent)
				require.NoError(t, err)
				require.Equal(t, want, got, "seed %d step %d: %s\n%v", seed, step, op, trace)
				require.Equal(t, m.state(tenant, month), s, "seed %d step %d: %s\n%v", seed, step, op, trace)
			case p < 81:
				d := limits.SettledIDTTL + time.Duration(r.IntN(3)-1)*time.Second // around a settled id's end
				op = fmt.Sprintf("advance(%v)", d)
				clock.Advance(d)
				m.now = clock.Now()
			case p < 83:
				op = "advance(61s)" // past a sweep
				clock.Advance(61 * time.Second)
				m.now = clock.Now()
			default:
				d := time.Duration(r.IntN(4)) * time.Second
				op = fmt.Sprintf("advance(%v)", d)
				clock.Advance(d)
				m.now = clock.Now()
			}
			trace = append(trace, op)

			for _, k := range ledgers {
				s, err := b.State(ctx, k[0], k[1])
				require.NoError(t, err)
				require.Equal(t, m.state(k[0], k[1]), s, "seed %d step %d: state(%s, %s) after %s\n%v", seed, step, k[0], k[1], op, trace)
			}
		}
	}
}
