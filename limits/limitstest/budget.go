package limitstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/limits"
)

// Timing of the budget suite's expiry tests. Reservations expire in real time, the
// implementation's own (Redis's clock or the process's).
const (
	// budgetTTL is the ttl of the expiry tests: long enough that a loaded machine does not let
	// it run out between two calls that must see it live.
	budgetTTL = 500 * time.Millisecond
	// budgetMargin is how late after its ttl an expired reservation may still count.
	budgetMargin = 300 * time.Millisecond
	// budgetPoll is how often a waiting caller retries.
	budgetPoll = 5 * time.Millisecond
)

// RunBudget runs the Budget conformance suite. newLedger returns a new, empty ledger for one
// subtest, cleaned up with t; it may be a view over several replicas sharing one store (several
// Redis clients), which the contention tests then exercise. Subtests run in parallel, on the
// current month and the next (a month past its retention would be forgotten at once).
func RunBudget(t *testing.T, newLedger func(t *testing.T) limits.Budget) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, b limits.Budget)
	}{
		{"RejectsBadArguments", testBudgetRejectsBadArguments},
		{"ReservesUpToTheBudget", testBudgetReservesUpToTheBudget},
		{"SettleSpendsActualAndFreesTheRest", testBudgetSettleSpendsActual},
		{"ReserveIsIdempotentPerID", testBudgetReserveIsIdempotent},
		{"SettleIsIdempotentPerID", testBudgetSettleIsIdempotent},
		{"ReleaseIsIdempotentPerID", testBudgetReleaseIsIdempotent},
		{"ExpiredReservationsStopCounting", testBudgetExpiredReservations},
		{"TenantsAndMonthsAreIndependent", testBudgetTenantsAndMonths},
		{"UnlimitedBudget", testBudgetUnlimited},
		{"LoweredBudgetKeepsHeldReservations", testBudgetLoweredBudget},
		{"SeedIsSetIfAbsent", testBudgetSeed},
		{"ConcurrentReservationsNeverOvershoot", testBudgetConcurrentReservations},
		{"ConcurrentCallsNeverOvershoot", testBudgetConcurrentCalls},
		{"ConcurrentRetriesOfOneIDCountOnce", testBudgetConcurrentRetries},
		{"HonoursCanceledContext", testBudgetCanceledContext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newLedger(t))
		})
	}
}

// budgetMonths returns the current month and the next, as callers name them.
func budgetMonths() (this, next string) {
	now := time.Now().UTC()
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return limits.BudgetMonth(start), limits.BudgetMonth(start.AddDate(0, 1, 0))
}

// budgetSt is shorthand for the state of an unseeded ledger.
func budgetSt(spent, reserved int64) limits.BudgetState {
	return limits.BudgetState{SpentMicros: spent, ReservedMicros: reserved}
}

func testBudgetRejectsBadArguments(t *testing.T, b limits.Budget) {
	ctx := t.Context()
	month, _ := budgetMonths()
	for _, tc := range []struct {
		name              string
		tenant, month, id string
		amount, budget    int64
		ttl               time.Duration
	}{
		{"empty tenant", "", month, "c1", 1, 10, time.Minute},
		{"empty id", "ten_a", month, "", 1, 10, time.Minute},
		{"empty month", "ten_a", "", "c1", 1, 10, time.Minute},
		{"month with a day", "ten_a", month + "-01", "c1", 1, 10, time.Minute},
		{"month 13", "ten_a", "2026-13", "c1", 1, 10, time.Minute},
		{"one-digit month", "ten_a", "2026-1", "c1", 1, 10, time.Minute},
		{"negative amount", "ten_a", month, "c1", -1, 10, time.Minute},
		{"amount over the cap", "ten_a", month, "c1", limits.MaxBudgetMicros + 1, limits.UnlimitedBudget, time.Minute},
		{"negative budget", "ten_a", month, "c1", 1, -1, time.Minute},
		{"budget over the cap", "ten_a", month, "c1", 1, limits.MaxBudgetMicros + 1, time.Minute},
		{"zero ttl", "ten_a", month, "c1", 1, 10, 0},
		{"negative ttl", "ten_a", month, "c1", 1, 10, -time.Second},
		{"ttl over the cap", "ten_a", month, "c1", 1, 10, limits.MaxReservationTTL + time.Millisecond},
	} {
		ok, _, err := b.Reserve(ctx, tc.tenant, tc.month, tc.id, tc.amount, tc.budget, tc.ttl)
		require.Error(t, err, "reserve: %s", tc.name)
		require.False(t, ok, "reserve: %s", tc.name)
	}
	for _, tc := range []struct {
		name              string
		tenant, month, id string
		actual            int64
	}{
		{"empty tenant", "", month, "c1", 1},
		{"empty id", "ten_a", month, "", 1},
		{"bad month", "ten_a", "Nov 2026", "c1", 1},
		{"negative actual", "ten_a", month, "c1", -1},
		{"actual over the cap", "ten_a", month, "c1", limits.MaxBudgetMicros + 1},
	} {
		_, err := b.Settle(ctx, tc.tenant, tc.month, tc.id, tc.actual)
		require.Error(t, err, "settle: %s", tc.name)
	}
	_, err := b.Release(ctx, "", month, "c1")
	require.Error(t, err, "release with empty tenant")
	_, err = b.Release(ctx, "ten_a", month, "")
	require.Error(t, err, "release with empty id")
	_, err = b.Release(ctx, "ten_a", "2026", "c1")
	require.Error(t, err, "release with bad month")
	_, err = b.State(ctx, "", month)
	require.Error(t, err, "state with empty tenant")
	_, err = b.State(ctx, "ten_a", "11-2026")
	require.Error(t, err, "state with bad month")
	for _, spent := range []int64{-1, limits.MaxBudgetMicros + 1} {
		ok, _, err := b.Seed(ctx, "ten_a", month, spent)
		require.Error(t, err, "seed %d", spent)
		require.False(t, ok)
	}
	_, _, err = b.Seed(ctx, "", month, 1)
	require.Error(t, err, "seed with empty tenant")

	// Nothing of the above changed the ledger.
	requireBudgetState(t, b, "ten_a", month, budgetSt(0, 0))
	// The caps themselves are accepted.
	requireReserved(t, b, "ten_a", month, "c1", limits.MaxBudgetMicros, limits.MaxBudgetMicros, limits.MaxReservationTTL)
	requireBudgetState(t, b, "ten_a", month, budgetSt(0, limits.MaxBudgetMicros))
}

func testBudgetReservesUpToTheBudget(t *testing.T, b limits.Budget) {
	month, _ := budgetMonths()
	got := requireReserved(t, b, "ten_a", month, "c1", 4, 10, time.Minute)
	require.Equal(t, budgetSt(0, 4), got)
	require.True(t, got.Allowed(10))
	requireReserved(t, b, "ten_a", month, "c2", 4, 10, time.Minute)
	// 4 + 4 + 3 > 10: refused, and nothing held.
	got = requireRefused(t, b, "ten_a", month, "c3", 3, 10, time.Minute)
	require.Equal(t, budgetSt(0, 8), got)
	// Exactly to the budget is within it.
	got = requireReserved(t, b, "ten_a", month, "c4", 2, 10, time.Minute)
	require.Equal(t, budgetSt(0, 10), got)
	require.False(t, got.Allowed(10), "submission allowed with the budget all reserved")
	require.Zero(t, got.Remaining(10))
	// A zero-cost call (a free model) still fits a full budget; a unit does not.
	requireReserved(t, b, "ten_a", month, "c5", 0, 10, time.Minute)
	requireRefused(t, b, "ten_a", month, "c6", 1, 10, time.Minute)
	requireBudgetState(t, b, "ten_a", month, budgetSt(0, 10))
	// A budget of zero admits only free calls.
	requireRefused(t, b, "ten_z", month, "c1", 1, 0, time.Minute)
	requireReserved(t, b, "ten_z", month, "c2", 0, 0, time.Minute)
	requireBudgetState(t, b, "ten_z", month, budgetSt(0, 0))
}

func testBudgetSettleSpendsActual(t *testing.T, b limits.Budget) {
	ctx := t.Context()
	month, _ := budgetMonths()
	requireReserved(t, b, "ten_a", month, "c1", 6, 10, time.Minute)
	requireReserved(t, b, "ten_a", month, "c2", 4, 10, time.Minute)
	requireRefused(t, b, "ten_a", month, "c3", 1, 10, time.Minute)
	// The call cost 2 of its worst-case 6: 4 come back.
	got, err := b.Settle(ctx, "ten_a", month, "c1", 2)
	require.NoError(t, err)
	require.Equal(t, budgetSt(2, 4), got)
	require.True(t, got.Allowed(10))
	require.Equal(t, int64(4), got.Remaining(10))
	requireReserved(t, b, "ten_a", month, "c3", 4, 10, time.Minute)
	requireRefused(t, b, "ten_a", month, "c4", 1, 10, time.Minute)
	// A call may cost more than reserved (a provider's count differs): spend takes it all, and
	// the state may then stand over the budget.
	got, err = b.Settle(ctx, "ten_a", month, "c2", 7)
	require.NoError(t, err)
	require.Equal(t, budgetSt(9, 4), got)
	require.False(t, got.Allowed(10))
	require.Zero(t, got.Remaining(10))
	got, err = b.Settle(ctx, "ten_a", month, "c3", 0)
	require.NoError(t, err)
	require.Equal(t, budgetSt(9, 0), got)
	requireReserved(t, b, "ten_a", month, "c4", 1, 10, time.Minute)
	requireBudgetState(t, b, "ten_a", month, budgetSt(9, 1))
}

func testBudgetReserveIsIdempotent(t *testing.T, b limits.Budget) {
	month, _ := budgetMonths()
	requireReserved(t, b, "ten_a", month, "c1", 5, 10, time.Minute)
	// A retry after a lost reply: the same answer, nothing counted twice.
	got := requireReserved(t, b, "ten_a", month, "c1", 5, 10, time.Minute)
	require.Equal(t, budgetSt(0, 5), got)
	// Nor does a retry change what is held, whatever it carries: the first amount stands.
	got = requireReserved(t, b, "ten_a", month, "c1", 9, 1, time.Minute)
	require.Equal(t, budgetSt(0, 5), got)
	requireReserved(t, b, "ten_a", month, "c2", 5, 10, time.Minute)
	// Held ids answer true even with the budget full.
	requireReserved(t, b, "ten_a", month, "c1", 5, 10, time.Minute)
	requireReserved(t, b, "ten_a", month, "c2", 5, 10, time.Minute)
	requireBudgetState(t, b, "ten_a", month, budgetSt(0, 10))
	// A refused id holds nothing and is decided afresh.
	requireRefused(t, b, "ten_a", month, "c3", 5, 10, time.Minute)
	requireRefused(t, b, "ten_a", month, "c3", 5, 10, time.Minute)
	requireBudgetState(t, b, "ten_a", month, budgetSt(0, 10))
	_, err := b.Release(t.Context(), "ten_a", month, "c2")
	require.NoError(t, err)
	got = requireReserved(t, b, "ten_a", month, "c3", 5, 10, time.Minute)
	require.Equal(t, budgetSt(0, 10), got)
}

func testBudgetSettleIsIdempotent(t *testing.T, b limits.Budget) {
	ctx := t.Context()
	month, _ := budgetMonths()
	requireReserved(t, b, "ten_a", month, "c1", 5, 10, time.Minute)
	got, err := b.Settle(ctx, "ten_a", month, "c1", 3)
	require.NoError(t, err)
	require.Equal(t, budgetSt(3, 0), got)
	// A second Settle of the id, even with another cost, changes nothing.
	for _, actual := range []int64{3, 4} {
		got, err = b.Settle(ctx, "ten_a", month, "c1", actual)
		require.NoError(t, err)
		require.Equal(t, budgetSt(3, 0), got, "second settle at %d", actual)
	}
	// A replayed Reserve of a settled id answers true and holds nothing: the call is paid for.
	got = requireReserved(t, b, "ten_a", month, "c1", 5, 10, time.Minute)
	require.Equal(t, budgetSt(3, 0), got)
	// Nor does releasing it give anything back.
	got, err = b.Release(ctx, "ten_a", month, "c1")
	require.NoError(t, err)
	require.Equal(t, budgetSt(3, 0), got)
	// A Settle of an id never reserved (its reservation is gone) still spends, once.
	for range 3 {
		got, err = b.Settle(ctx, "ten_a", month, "c-unknown", 2)
		require.NoError(t, err)
		require.Equal(t, budgetSt(5, 0), got)
	}
	requireBudgetState(t, b, "ten_a", month, budgetSt(5, 0))
}

func testBudgetReleaseIsIdempotent(t *testing.T, b limits.Budget) {
	ctx := t.Context()
	month, _ := budgetMonths()
	requireReserved(t, b, "ten_a", month, "c1", 6, 10, time.Minute)
	requireReserved(t, b, "ten_a", month, "c2", 4, 10, time.Minute)
	got, err := b.Release(ctx, "ten_a", month, "c1")
	require.NoError(t, err)
	require.Equal(t, budgetSt(0, 4), got)
	for _, id := range []string{"c1", "c1", "c-unknown"} {
		got, err = b.Release(ctx, "ten_a", month, id)
		require.NoError(t, err, "release %s", id)
		require.Equal(t, budgetSt(0, 4), got, "release %s", id)
	}
	got, err = b.Release(ctx, "ten_nobody", month, "c1")
	require.NoError(t, err, "release on an empty ledger")
	require.Equal(t, budgetSt(0, 0), got)
	requireReserved(t, b, "ten_a", month, "c3", 6, 10, time.Minute)
	requireBudgetState(t, b, "ten_a", month, budgetSt(0, 10))
	// Settling a released id still spends: the caller says the call was made after all.
	got, err = b.Settle(ctx, "ten_a", month, "c1", 1)
	require.NoError(t, err)
	require.Equal(t, budgetSt(1, 10), got)
}

func testBudgetExpiredReservations(t *testing.T, b limits.Budget) {
	ctx := t.Context()
	month, _ := budgetMonths()
	start := time.Now()
	// c1's worker dies right after reserving: it never settles or releases.
	requireReserved(t, b, "ten_a", month, "c1", 7, 10, budgetTTL)
	requireReserved(t, b, "ten_a", month, "c2", 3, 10, time.Minute)
	requireRefused(t, b, "ten_a", month, "c3", 7, 10, time.Minute)
	var got time.Time
	require.Eventually(t, func() bool {
		ok, _, err := b.Reserve(ctx, "ten_a", month, "c3", 7, 10, time.Minute)
		if err != nil || !ok {
			return false
		}
		got = time.Now()
		return true
	}, budgetTTL+budgetMargin, budgetPoll, "the expired reservation still counted %v after its ttl", budgetMargin)
	require.GreaterOrEqual(t, got.Sub(start), budgetTTL-time.Millisecond, "the reservation stopped counting before its ttl")
	requireBudgetState(t, b, "ten_a", month, budgetSt(0, 10))

	// The worker was only slow: its Settle counts the cost once, and frees nothing of others'.
	for range 2 {
		s, err := b.Settle(ctx, "ten_a", month, "c1", 2)
		require.NoError(t, err)
		require.Equal(t, budgetSt(2, 10), s)
	}
	// An expired id that was never settled is forgotten, and may be reserved afresh.
	requireReserved(t, b, "ten_b", month, "c1", 4, 10, budgetTTL/5)
	require.Eventually(t, func() bool {
		s, err := b.State(ctx, "ten_b", month)
		return err == nil && s == budgetSt(0, 0)
	}, budgetTTL/5+budgetMargin, budgetPoll, "the reservation did not expire")
	s := requireReserved(t, b, "ten_b", month, "c1", 6, 10, time.Minute)
	require.Equal(t, budgetSt(0, 6), s)
}

func testBudgetTenantsAndMonths(t *testing.T, b limits.Budget) {
	ctx := t.Context()
	this, next := budgetMonths()
	requireReserved(t, b, "ten_a", this, "c1", 10, 10, time.Minute)
	requireRefused(t, b, "ten_a", this, "c2", 1, 10, time.Minute)
	// Same call ids, another tenant and another month: neither held back by a's full month.
	requireReserved(t, b, "ten_b", this, "c1", 10, 10, time.Minute)
	requireReserved(t, b, "ten_a", next, "c1", 10, 10, time.Minute)
	_, err := b.Settle(ctx, "ten_a", this, "c1", 4)
	require.NoError(t, err)
	_, _, err = b.Seed(ctx, "ten_b", next, 7)
	require.NoError(t, err)
	requireBudgetState(t, b, "ten_a", this, budgetSt(4, 0))
	requireBudgetState(t, b, "ten_b", this, budgetSt(0, 10))
	requireBudgetState(t, b, "ten_a", next, budgetSt(0, 10))
	requireBudgetState(t, b, "ten_b", next, limits.BudgetState{SpentMicros: 7, Seeded: true})
	// Settling a's id in this month did not settle it in the next.
	got, err := b.Settle(ctx, "ten_a", next, "c1", 1)
	require.NoError(t, err)
	require.Equal(t, budgetSt(1, 0), got)
	// A tenant whose name looks like another's key does not share it.
	requireBudgetState(t, b, "ten_a:"+this, this, budgetSt(0, 0))
	requireBudgetState(t, b, "ten_a}", this, budgetSt(0, 0))
}

func testBudgetUnlimited(t *testing.T, b limits.Budget) {
	ctx := t.Context()
	month, _ := budgetMonths()
	for i := range 3 {
		requireReserved(t, b, "ten_a", month, fmt.Sprint("c", i), limits.MaxBudgetMicros, limits.UnlimitedBudget, time.Minute)
	}
	got, err := b.Settle(ctx, "ten_a", month, "c0", limits.MaxBudgetMicros)
	require.NoError(t, err)
	require.Equal(t, budgetSt(limits.MaxBudgetMicros, 2*limits.MaxBudgetMicros), got, "unlimited reservations are still recorded")
	require.True(t, got.Allowed(limits.UnlimitedBudget))
	require.Equal(t, limits.UnlimitedBudget, got.Remaining(limits.UnlimitedBudget))
	// Once a budget is set, the same month's spend and reservations count against it.
	requireRefused(t, b, "ten_a", month, "c3", 0, limits.MaxBudgetMicros, time.Minute)
	require.False(t, got.Allowed(limits.MaxBudgetMicros))
}

func testBudgetLoweredBudget(t *testing.T, b limits.Budget) {
	month, _ := budgetMonths()
	requireReserved(t, b, "ten_a", month, "c1", 5, 10, time.Minute)
	requireReserved(t, b, "ten_a", month, "c2", 5, 10, time.Minute)
	// Lowered to 6: the held reservations stand, nothing new fits until below it.
	requireReserved(t, b, "ten_a", month, "c1", 5, 6, time.Minute)
	requireRefused(t, b, "ten_a", month, "c3", 0, 6, time.Minute)
	got, err := b.Settle(t.Context(), "ten_a", month, "c2", 0)
	require.NoError(t, err)
	require.Equal(t, budgetSt(0, 5), got)
	requireRefused(t, b, "ten_a", month, "c3", 2, 6, time.Minute)
	requireReserved(t, b, "ten_a", month, "c3", 1, 6, time.Minute)
	// Raised: admits at once.
	requireReserved(t, b, "ten_a", month, "c4", 100, 106, time.Minute)
	requireBudgetState(t, b, "ten_a", month, budgetSt(0, 106))
}

func testBudgetSeed(t *testing.T, b limits.Budget) {
	ctx := t.Context()
	month, _ := budgetMonths()
	s, err := b.State(ctx, "ten_a", month)
	require.NoError(t, err)
	require.False(t, s.Seeded, "a new ledger claims to be seeded")
	// Calls settled before the seed stay counted (the database may not hold them yet).
	_, err = b.Settle(ctx, "ten_a", month, "c1", 3)
	require.NoError(t, err)
	requireReserved(t, b, "ten_a", month, "c2", 2, 1000, time.Minute)
	ok, got, err := b.Seed(ctx, "ten_a", month, 100)
	require.NoError(t, err)
	require.True(t, ok, "the first seed was not applied")
	require.Equal(t, limits.BudgetState{SpentMicros: 103, ReservedMicros: 2, Seeded: true}, got)
	// Set-if-absent: later seeds, from other replicas or a retry, change nothing.
	for _, spent := range []int64{100, 50, 0} {
		ok, got, err = b.Seed(ctx, "ten_a", month, spent)
		require.NoError(t, err)
		require.False(t, ok, "seed %d applied twice", spent)
		require.Equal(t, limits.BudgetState{SpentMicros: 103, ReservedMicros: 2, Seeded: true}, got)
	}
	// The seeded spend counts against the budget.
	requireRefused(t, b, "ten_a", month, "c3", 1, 105, time.Minute)
	requireReserved(t, b, "ten_a", month, "c3", 1, 106, time.Minute)
	// A seed of nothing still marks the ledger seeded.
	ok, got, err = b.Seed(ctx, "ten_b", month, 0)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, limits.BudgetState{Seeded: true}, got)
	requireBudgetState(t, b, "ten_b", month, limits.BudgetState{Seeded: true})

	// Concurrent seeders add the spend once.
	var (
		applied atomic.Int64
		wg      sync.WaitGroup
	)
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			ok, _, err := b.Seed(ctx, "ten_c", month, 40)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				applied.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), applied.Load(), "seeds applied")
	requireBudgetState(t, b, "ten_c", month, limits.BudgetState{SpentMicros: 40, Seeded: true})
}

func testBudgetConcurrentReservations(t *testing.T, b limits.Budget) {
	ctx := t.Context()
	month, _ := budgetMonths()
	const callers, unit, budget = 50, 1_000, 10 * 1_000
	var (
		held atomic.Int64
		wg   sync.WaitGroup
	)
	errs := make(chan error, callers)
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			ok, s, err := b.Reserve(ctx, "ten_a", month, fmt.Sprint("tsk_", i, ":1"), unit, budget, time.Minute)
			switch {
			case err != nil:
				errs <- err
			case s.SpentMicros+s.ReservedMicros > budget:
				errs <- fmt.Errorf("state %+v over the budget %d", s, budget)
			case ok:
				held.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(budget/unit), held.Load(), "reservations held")
	requireBudgetState(t, b, "ten_a", month, budgetSt(0, budget))
}

// testBudgetConcurrentCalls runs the scenario: 50 tasks, each making LLM calls, against
// a budget of 10 calls' worth. Every call reserves its worst case, "runs", and settles to a cost
// at most that; a task stops at its first refusal. Spend never overshoots the budget, and the
// budget is used up (nothing leaks).
func testBudgetConcurrentCalls(t *testing.T, b limits.Budget) {
	ctx := t.Context()
	month, _ := budgetMonths()
	const tasks, worst, budget = 50, 3_000, 10 * 3_000
	var (
		wg       sync.WaitGroup
		maxSeen  atomic.Int64
		settled  atomic.Int64
		refusals atomic.Int64
	)
	errs := make(chan error, tasks)
	start := make(chan struct{})
	for i := range tasks {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			<-start
			for call := 0; ; call++ {
				id := fmt.Sprintf("tsk_%d:%d", i, call)
				ok, s, err := b.Reserve(ctx, "ten_a", month, id, worst, budget, time.Minute)
				if err != nil {
					errs <- err
					return
				}
				raiseTo(&maxSeen, s.SpentMicros+s.ReservedMicros)
				if !ok {
					refusals.Add(1)
					return // the task ends failed with budget_exceeded
				}
				actual := int64(1 + r.IntN(worst))
				s, err = b.Settle(ctx, "ten_a", month, id, actual)
				if err != nil {
					errs <- err
					return
				}
				settled.Add(actual)
				raiseTo(&maxSeen, s.SpentMicros+s.ReservedMicros)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(tasks), refusals.Load())
	require.LessOrEqual(t, maxSeen.Load(), int64(budget), "spend plus reservations overshot the budget")
	s, err := b.State(ctx, "ten_a", month)
	require.NoError(t, err)
	require.Equal(t, budgetSt(settled.Load(), 0), s, "the spend is not the sum of the settled costs")
	require.Greater(t, s.SpentMicros, int64(budget-worst), "the budget was not used up: a refusal came early")
}

func testBudgetConcurrentRetries(t *testing.T, b limits.Budget) {
	ctx := t.Context()
	month, _ := budgetMonths()
	const retries = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*retries)
	start := make(chan struct{})
	for range retries {
		wg.Go(func() {
			<-start
			ok, _, err := b.Reserve(ctx, "ten_a", month, "c1", 7, 10, time.Minute)
			if err == nil && !ok {
				err = fmt.Errorf("a retry of a held reservation was refused")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	requireBudgetState(t, b, "ten_a", month, budgetSt(0, 7))
	start = make(chan struct{})
	for range retries {
		wg.Go(func() {
			<-start
			if _, err := b.Settle(ctx, "ten_a", month, "c1", 5); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	requireBudgetState(t, b, "ten_a", month, budgetSt(5, 0))
}

func testBudgetCanceledContext(t *testing.T, b limits.Budget) {
	month, _ := budgetMonths()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ok, _, err := b.Reserve(ctx, "ten_a", month, "c1", 1, 10, time.Minute)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, ok)
	_, err = b.Settle(ctx, "ten_a", month, "c2", 1)
	require.ErrorIs(t, err, context.Canceled)
	_, _, err = b.Seed(ctx, "ten_a", month, 1)
	require.ErrorIs(t, err, context.Canceled)
	_, err = b.State(ctx, "ten_a", month)
	require.ErrorIs(t, err, context.Canceled)
	_, err = b.Release(ctx, "ten_a", month, "c1")
	require.ErrorIs(t, err, context.Canceled)
	requireBudgetState(t, b, "ten_a", month, budgetSt(0, 0))
}

// requireReserved requires id to be reserved and returns the state after.
func requireReserved(t *testing.T, b limits.Budget, tenant, month, id string, amount, budget int64, ttl time.Duration) limits.BudgetState {
	t.Helper()
	ok, s, err := b.Reserve(t.Context(), tenant, month, id, amount, budget, ttl)
	require.NoError(t, err)
	require.True(t, ok, "%s was refused %d of %s's budget %d in %s (state %+v)", id, amount, tenant, budget, month, s)
	return s
}

// requireRefused requires id to be refused and returns the state after.
func requireRefused(t *testing.T, b limits.Budget, tenant, month, id string, amount, budget int64, ttl time.Duration) limits.BudgetState {
	t.Helper()
	ok, s, err := b.Reserve(t.Context(), tenant, month, id, amount, budget, ttl)
	require.NoError(t, err)
	require.False(t, ok, "%s was given %d of %s's budget %d in %s (state %+v)", id, amount, tenant, budget, month, s)
	return s
}

// requireBudgetState requires the ledger of tenant and month to be in state want.
func requireBudgetState(t *testing.T, b limits.Budget, tenant, month string, want limits.BudgetState) {
	t.Helper()
	got, err := b.State(t.Context(), tenant, month)
	require.NoError(t, err)
	require.Equal(t, want, got, "ledger of %s in %s", tenant, month)
}
