package limits

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Budget is the ledger of a tenant's monthly spend on LLM calls, in integer micro-dollars, kept
// so that concurrent calls cannot overshoot the tenant's budget however many workers make them.
//
// Before a call, a worker Reserves the call's worst-case cost (input tokens plus the most output
// tokens it allows, at the model's price); the reservation is made only if the month's spend,
// plus every reservation in flight, plus this one, stays within the budget. After the call it
// Settles the reservation to the real cost, which moves the cost to the month's spend and frees
// the rest; a call that is not made after all is Released. A reservation that is neither
// settled nor released within its ttl (its worker died) expires and stops counting. Submission
// asks State and answers 402 budget_exceeded when BudgetState.Allowed is false.
//
// A month's ledger is named by its tenant and its month ("2026-11", in UTC; see BudgetMonth).
// The budget is given per call rather than stored, so a change applies at the next Reserve:
// lowering it never takes back a held reservation. UnlimitedBudget stands for a tenant without
// one; its reservations are still recorded, so State reports them.
//
// Each LLM call has an id of its own (the task id, its delivery attempt and the call's number,
// say), and every operation is idempotent per id, so a retry after a lost reply counts nothing
// twice. An id is used for one call: reserved at most once, then settled or released. Reserving
// an id that is already held answers true and changes nothing (not even its amount or ttl).
// Settling an id counts its actual cost once, whether or not it is still reserved (an expired
// reservation's call did happen and did cost money); the ledger remembers a settled id for
// SettledIDTTL, within which settling it again, or reserving it again, changes nothing (such a
// Reserve answers true: that call is paid for). A refused Reserve holds nothing and leaves no
// trace, so trying the same id again later is decided afresh; so is an id after its release or
// its expiry.
//
// The database's usage records are the source of truth for spend; the ledger is what makes it
// exact under concurrency. A ledger the store does not hold (the month is new, or Redis lost its
// data) reports Seeded false: the caller then sums the month's spend from the database and
// Seeds it. Seeding is set-if-absent: only the first Seed of a month's ledger counts, and
// concurrent seeders from several replicas add the spend once. It adds to the spend settled
// before it, since the database may not hold those calls yet (a task's usage is written when it
// ends); a call both settled before the seed and already in the database is counted twice,
// which errs on the side of refusing.
//
// A ledger is kept until BudgetRetention after its month ends, long enough for calls in flight
// at midnight to settle; operations on a month further back change nothing that lasts.
//
// Amounts, actual costs, seeded spend and budgets other than UnlimitedBudget must lie in
// [0, MaxBudgetMicros]; a ttl in (0, MaxReservationTTL]; tenant and id must not be empty and the
// month must be "YYYY-MM". Breaking any of these is an error, not a refusal, and changes nothing.
//
// Implementations are safe for concurrent use. Errors talking to the store wrap ErrUnavailable,
// so the caller can choose to fail open or closed.
type Budget interface {
	// Reserve holds amount under id, if the month's spend plus its live reservations plus
	// amount is at most budget, and reports whether it did, with the ledger's state after the
	// call. A refusal holds nothing. A reservation counts until it is settled, released or its
	// ttl runs out.
	Reserve(ctx context.Context, tenant, month, id string, amount, budget int64, ttl time.Duration) (bool, BudgetState, error)
	// Settle removes the reservation id, if it is live, and adds actual to the month's spend,
	// once per id (see SettledIDTTL). It returns the state after the call.
	Settle(ctx context.Context, tenant, month, id string, actual int64) (BudgetState, error)
	// Release removes the reservation id without spending anything: the call was not made.
	// Releasing an id that is not held is not an error and changes nothing.
	Release(ctx context.Context, tenant, month, id string) (BudgetState, error)
	// State reports the month's spend and live reservations.
	State(ctx context.Context, tenant, month string) (BudgetState, error)
	// Seed adds spent, the month's spend summed from the database, to a ledger that has not
	// been seeded, marks it seeded and reports true. On a seeded ledger it changes nothing and
	// reports false. Either way it returns the state after the call.
	Seed(ctx context.Context, tenant, month string, spent int64) (bool, BudgetState, error)
}

// BudgetState is a month's ledger at one moment.
type BudgetState struct {
	// SpentMicros is the settled cost of the month's calls, in micro-dollars.
	SpentMicros int64
	// ReservedMicros is the sum of the live reservations: the worst-case costs of the calls in
	// flight.
	ReservedMicros int64
	// Seeded reports whether the month's spend from the database has been added (see
	// Budget.Seed). False means the ledger may be missing spend.
	Seeded bool
}

// Allowed reports whether a tenant with this state may submit more work against budget: while
// spend plus reservations is below it. Submission answers 402 budget_exceeded otherwise.
func (s BudgetState) Allowed(budget int64) bool {
	if budget == UnlimitedBudget {
		return true
	}
	return s.SpentMicros+s.ReservedMicros < budget
}

// Remaining is how much of budget is neither spent nor reserved, never below 0: the most a new
// call could reserve. It is UnlimitedBudget for UnlimitedBudget.
func (s BudgetState) Remaining(budget int64) int64 {
	if budget == UnlimitedBudget {
		return UnlimitedBudget
	}
	return max(0, budget-s.SpentMicros-s.ReservedMicros)
}

const (
	// UnlimitedBudget is the budget of a tenant without one: Reserve always holds, and
	// BudgetState.Allowed is always true.
	UnlimitedBudget int64 = math.MaxInt64

	// MaxBudgetMicros is the largest amount, actual cost, seeded spend or (limited) budget a
	// Budget accepts: a billion dollars. The cap keeps every sum of a few of them exact in the
	// doubles of Redis's Lua.
	MaxBudgetMicros int64 = 1_000_000_000_000_000

	// MaxReservationTTL is the longest ttl Reserve accepts. A reservation should outlive its
	// call's longest run (the provider's timeout) and no more, since a dead worker's
	// reservation keeps counting for its ttl.
	MaxReservationTTL = 24 * time.Hour

	// SettledIDTTL is how long a Budget remembers a settled id, within which settling or
	// reserving it again changes nothing. It outlasts the longest reservation and the
	// redelivery of a task whose worker died after settling.
	SettledIDTTL = 48 * time.Hour

	// BudgetRetention is how long after its month ends a ledger is kept: calls reserved before
	// midnight UTC settle after it.
	BudgetRetention = 7 * 24 * time.Hour
)

// budgetMonthLayout is the layout of a ledger's month.
const budgetMonthLayout = "2006-01"

// BudgetMonth returns the month of t, in UTC, as a Budget names it ("2026-11").
func BudgetMonth(t time.Time) string { return t.UTC().Format(budgetMonthLayout) }

// budgetExpiry returns when the ledger of month is forgotten: BudgetRetention after the month
// ends.
func budgetExpiry(op, month string) (time.Time, error) {
	start, err := time.Parse(budgetMonthLayout, month)
	if err != nil {
		return time.Time{}, fmt.Errorf("budget %s: month %q is not YYYY-MM", op, month)
	}
	return start.AddDate(0, 1, 0).Add(BudgetRetention), nil
}

// checkBudgetLedger validates the tenant and month every Budget method takes and returns the
// ledger's expiry.
func checkBudgetLedger(op, tenant, month string) (time.Time, error) {
	if tenant == "" {
		return time.Time{}, fmt.Errorf("budget %s: empty tenant", op)
	}
	return budgetExpiry(op, month)
}

// checkBudgetCall validates the arguments of a method on one id.
func checkBudgetCall(op, tenant, month, id string) (time.Time, error) {
	exp, err := checkBudgetLedger(op, tenant, month)
	if err != nil {
		return time.Time{}, err
	}
	if id == "" {
		return time.Time{}, fmt.Errorf("budget %s: empty id", op)
	}
	return exp, nil
}

// checkMicros validates an amount of money.
func checkMicros(op, what string, v int64) error {
	if v < 0 || v > MaxBudgetMicros {
		return fmt.Errorf("budget %s: %s %d out of range [0, %d]", op, what, v, MaxBudgetMicros)
	}
	return nil
}

// checkBudgetReserve validates Reserve's arguments and returns the ledger's expiry.
func checkBudgetReserve(tenant, month, id string, amount, budget int64, ttl time.Duration) (time.Time, error) {
	exp, err := checkBudgetCall("reserve", tenant, month, id)
	if err != nil {
		return time.Time{}, err
	}
	if err := checkMicros("reserve", "amount", amount); err != nil {
		return time.Time{}, err
	}
	if budget != UnlimitedBudget {
		if err := checkMicros("reserve", "budget", budget); err != nil {
			return time.Time{}, err
		}
	}
	if ttl <= 0 || ttl > MaxReservationTTL {
		return time.Time{}, fmt.Errorf("budget reserve: ttl %v out of range (0, %v]", ttl, MaxReservationTTL)
	}
	return exp, nil
}
