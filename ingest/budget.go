package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/store"
)

// Budgets is what ingest checks a submission against: the tenant's monthly budget, spent
// plus reserved in the ledger the workers reserve and settle in. The zero value (no Ledger)
// checks none.
type Budgets struct {
	Ledger limits.Budget
	// FailOpen admits submissions while the Ledger's store is unavailable; otherwise they
	// are answered 503.
	FailOpen bool
}

// admitBudget refuses a submission with 402 budget_exceeded when the tenant's month's spend
// and reservations have reached its budget.
func (s *Server) admitBudget(ctx context.Context, tenantID string) error {
	ledger := s.cfg.Budgets.Ledger
	if ledger == nil {
		return nil
	}
	e, err := s.tenantInfo(ctx, tenantID)
	if err != nil || e.budget == nil {
		return err
	}
	now := s.now()
	month := limits.BudgetMonth(now)
	st, err := ledger.State(ctx, tenantID, month)
	if err == nil && !st.Seeded {
		start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		var u *store.Usage
		if u, err = s.cfg.Store.Usage(ctx, tenantID, start, start.AddDate(0, 1, 0)); err != nil {
			return fmt.Errorf("budget: month's spend: %w", err)
		}
		_, st, err = ledger.Seed(ctx, tenantID, month, u.CostMicros)
	}
	if err != nil {
		if errors.Is(err, limits.ErrUnavailable) {
			return s.limitFailed(ctx, limits.LimitBudgets, s.cfg.Budgets.FailOpen, err)
		}
		return fmt.Errorf("budget: %w", err)
	}
	if !st.Allowed(*e.budget) {
		s.metrics.reject(ctx, limits.LimitBudgets)
		return newProblem(http.StatusPaymentRequired, codeBudgetExceeded, fmt.Sprintf(
			"the monthly budget of $%.2f is spent (spent $%.2f, reserved $%.2f)", store.MicrosToUSD(*e.budget),
			store.MicrosToUSD(st.SpentMicros), store.MicrosToUSD(st.ReservedMicros)))
	}
	return nil
}
