package ingest

import (
	"fmt"
	"net/http"
	"time"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/store"
)

// maxUsageDays bounds a usage report's period.
const maxUsageDays = 366

// GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD: UTC days, both inclusive; by default this
// month so far.
func (s *Server) usage(w http.ResponseWriter, r *http.Request, k *store.APIKey) error {
	now := s.now()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	from, to := monthStart, today
	q := r.URL.Query()
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := q.Get(name); v != "" {
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return invalidParameter(name, "must be a date: YYYY-MM-DD")
			}
			*dst = d
		}
	}
	switch {
	case to.Before(from):
		return invalidParameter("to", "must not be before from")
	case to.Sub(from) >= maxUsageDays*24*time.Hour:
		return invalidParameter("to", fmt.Sprintf("must be at most %d days after from", maxUsageDays))
	}
	u, err := s.cfg.Store.Usage(r.Context(), k.TenantID, from, to.AddDate(0, 0, 1))
	if err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	month := u // the default period, this month so far, is the budget's month
	if !from.Equal(monthStart) || to.Before(today) {
		if month, err = s.cfg.Store.Usage(r.Context(), k.TenantID, monthStart, monthStart.AddDate(0, 1, 0)); err != nil {
			return fmt.Errorf("usage of the month: %w", err)
		}
	}
	t, err := s.cfg.Store.GetTenant(r.Context(), k.TenantID)
	if err != nil {
		return fmt.Errorf("usage: %w", err)
	}

	out := client.UsageReport{
		From: from.Format(time.DateOnly), To: to.Format(time.DateOnly),
		Tasks: map[string]int64{
			string(store.StatusSucceeded): u.Tasks[store.StatusSucceeded],
			string(store.StatusFailed):    u.Tasks[store.StatusFailed],
			string(store.StatusCanceled):  u.Tasks[store.StatusCanceled],
		},
		InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CostUSD: store.MicrosToUSD(u.CostMicros),
		ByModel: make([]client.ModelUsage, len(u.ByModel)),
		ByDay:   make([]client.DayUsage, len(u.ByDay)),
		Budget:  client.BudgetUsage{SpentUSD: store.MicrosToUSD(month.CostMicros)},
		Cached:  client.CachedUsage{Calls: u.Cached.Calls, SavedUSD: store.MicrosToUSD(u.Cached.SavedMicros)},
	}
	for i, m := range u.ByModel {
		out.ByModel[i] = client.ModelUsage{Provider: nullable(m.Provider), Model: nullable(m.Model), Tasks: m.Tasks,
			InputTokens: m.InputTokens, OutputTokens: m.OutputTokens, CostUSD: store.MicrosToUSD(m.CostMicros)}
	}
	for i, d := range u.ByDay {
		out.ByDay[i] = client.DayUsage{Date: d.Date, Tasks: d.Tasks, CostUSD: store.MicrosToUSD(d.CostMicros)}
	}
	var reserved int64
	if ledger := s.cfg.Budgets.Ledger; ledger != nil {
		st, err := ledger.State(r.Context(), k.TenantID, limits.BudgetMonth(now))
		if err != nil {
			// The report stands without the reservations; the spend is the database's.
			s.log.WarnContext(r.Context(), "usage: budget reservations unavailable", "error", err)
		} else {
			reserved = st.ReservedMicros
		}
	}
	out.Budget.ReservedUSD = store.MicrosToUSD(reserved)
	if b := t.MonthlyBudgetMicros; b != nil {
		budget, left := store.MicrosToUSD(*b), store.MicrosToUSD(max(*b-month.CostMicros-reserved, 0))
		out.Budget.MonthlyBudgetUSD, out.Budget.RemainingUSD = &budget, &left
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// nullable is nil for "", as the API shows what is absent.
func nullable(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}
