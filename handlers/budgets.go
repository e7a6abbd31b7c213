package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/store"
)

// CodeBudgetExceeded ends a task whose model call would not fit the tenant's monthly budget.
const CodeBudgetExceeded = "budget_exceeded"

// Budgets keeps tenants within their monthly budgets across workers: before each model call
// the worst case (the prompt's tokens and the agent's maximum answer at the model's price) is
// reserved atomically against the month's spend and the other calls in flight, and settled
// to the real cost after, so concurrent tasks cannot overshoot. A tenant without a budget
// costs nothing here but the settle that keeps its spend current.
type Budgets struct {
	// Ledger holds spend and reservations (limits.RedisBudget across replicas).
	Ledger limits.Budget
	// Tenants gives budgets (a TenantCache, in a worker).
	Tenants TenantGetter
	// Usage gives the month's spend to seed a cold ledger with (the store).
	Usage interface {
		Usage(ctx context.Context, tenantID string, from, to time.Time) (*store.Usage, error)
	}
	// FailOpen lets calls go ahead unreserved while the Ledger's store is unavailable;
	// otherwise the task waits in the queue. Either way Outages hears of it.
	FailOpen bool
	// Outages counts and logs the decisions the Ledger's store could not make (nil: not
	// counted).
	Outages *limits.Outages
	Logger  *slog.Logger
}

// defaultMaxOutputTokens bounds the worst case of an agent that sets no maximum answer.
const defaultMaxOutputTokens = 4096

// errBudgetUnavailable makes a task wait in the queue: its budget could not be checked.
var errBudgetUnavailable = errors.New("budget: the ledger is unavailable")

// errBudgetBusy makes a task wait in the queue: its call fits what is left of the budget,
// but not beside the worst cases reserved by the tenant's calls in flight, which settle to
// their real, usually much lower, cost when they end.
var errBudgetBusy = errors.New("budget: held by the calls in flight")

// waitsForBudget reports whether a task's run ended waiting for its budget, to be retried
// from the queue without an attempt charged.
func waitsForBudget(err error) bool {
	return errors.Is(err, errBudgetBusy) || errors.Is(err, errBudgetUnavailable)
}

// reserve holds the worst-case cost of one call; release settles it (with the real cost,
// or nothing when the call failed). ok is false when the call does not fit the budget even
// once the calls in flight have settled; errBudgetBusy when it would fit then.
func (b *Budgets) reserve(ctx context.Context, tenantID, callID string, worst int64, now time.Time, ttl time.Duration) (ok bool, settle func(actual int64), err error) {
	month := limits.BudgetMonth(now)
	ten, err := b.Tenants.GetTenant(ctx, tenantID)
	if err != nil {
		return false, nil, fmt.Errorf("budget of %s: %w", tenantID, err)
	}
	budget := ten.MonthlyBudgetMicros
	limit := int64(limits.UnlimitedBudget)
	if budget != nil {
		limit = *budget
		if _, err := b.seed(ctx, tenantID, month, now); err != nil {
			return b.unavailable(ctx, err)
		}
	}
	worst = min(worst, limits.MaxBudgetMicros)
	ok, st, err := b.Ledger.Reserve(ctx, tenantID, month, callID, worst, limit, ttl)
	if err != nil && budget == nil && errors.Is(err, limits.ErrUnavailable) {
		// No budget to keep: the call goes ahead, and the ledger misses its cost (the
		// database keeps it; a budget set later seeds an unseeded ledger from there).
		return true, func(int64) {}, nil
	}
	if err != nil {
		return b.unavailable(ctx, err)
	}
	if !ok {
		if st.ReservedMicros > 0 && st.SpentMicros+worst <= limit {
			return false, nil, errBudgetBusy
		}
		return false, nil, nil
	}
	return true, func(actual int64) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		var err error
		if actual > 0 {
			_, err = b.Ledger.Settle(ctx, tenantID, month, callID, min(actual, limits.MaxBudgetMicros))
		} else {
			_, err = b.Ledger.Release(ctx, tenantID, month, callID)
		}
		if err != nil && b.Logger != nil {
			b.Logger.WarnContext(ctx, "budget settle failed; the reservation expires", "tenant_id", tenantID, "error", err)
		}
	}, nil
}

// unavailable answers a reservation the ledger could not decide: go ahead (fail open) or
// retry the task later.
func (b *Budgets) unavailable(ctx context.Context, err error) (bool, func(int64), error) {
	if !errors.Is(err, limits.ErrUnavailable) {
		return false, nil, err
	}
	if b.Outages != nil {
		b.Outages.Record(ctx, limits.LimitBudgets, b.FailOpen, err)
	}
	if b.FailOpen {
		return true, func(int64) {}, nil
	}
	return false, nil, fmt.Errorf("%w: %v", errBudgetUnavailable, err)
}

// left returns what remains of the tenant's budget this month once its settled spend is
// counted (nil without a budget), so the router drops the models whose worst case cannot fit.
// The calls in flight are not subtracted: they settle to far less than they reserve.
func (b *Budgets) left(ctx context.Context, tenantID string, now time.Time) (*int64, error) {
	ten, err := b.Tenants.GetTenant(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("budget of %s: %w", tenantID, err)
	}
	if ten.MonthlyBudgetMicros == nil {
		return nil, nil
	}
	month := limits.BudgetMonth(now)
	st, err := b.seed(ctx, tenantID, month, now)
	if err != nil {
		if _, _, err := b.unavailable(ctx, err); err != nil {
			return nil, err
		}
		return nil, nil // failing open: no budget to route by
	}
	left := max(*ten.MonthlyBudgetMicros-st.SpentMicros, 0)
	return &left, nil
}

// seed gives a cold ledger the month's spend from the database, once, and returns the
// ledger's state.
func (b *Budgets) seed(ctx context.Context, tenantID, month string, now time.Time) (limits.BudgetState, error) {
	st, err := b.Ledger.State(ctx, tenantID, month)
	if err != nil || st.Seeded {
		return st, err
	}
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	u, err := b.Usage.Usage(ctx, tenantID, start, start.AddDate(0, 1, 0))
	if err != nil {
		return st, fmt.Errorf("budget: month's spend of %s: %w", tenantID, err)
	}
	_, st, err = b.Ledger.Seed(ctx, tenantID, month, u.CostMicros)
	return st, err
}

// callID names one model call of one attempt: a retry reserves afresh.
func callID(taskID string, attempt int) string { return taskID + "#" + strconv.Itoa(attempt) }
