package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// UsageReport is the answer of GET /v1/usage: what the tenant's tasks that ended in the
// period consumed, and where the month's budget stands.
type UsageReport struct {
	From         string           `json:"from"` // YYYY-MM-DD, UTC
	To           string           `json:"to"`   // YYYY-MM-DD, UTC, inclusive
	Tasks        map[string]int64 `json:"tasks"`
	InputTokens  int64            `json:"input_tokens"`
	OutputTokens int64            `json:"output_tokens"`
	CostUSD      float64          `json:"cost_usd"`
	ByModel      []ModelUsage     `json:"by_model"`
	ByDay        []DayUsage       `json:"by_day"`
	Budget       BudgetUsage      `json:"budget"`
	// Cached is what the LLM response cache saved in the period.
	Cached CachedUsage `json:"cached"`
}

// CachedUsage is the part of a UsageReport the LLM response cache answered: the model calls
// it served instead of a model (at no cost), and what those calls would have cost.
type CachedUsage struct {
	Calls    int64   `json:"calls"`
	SavedUSD float64 `json:"saved_usd"`
}

// ModelUsage is one provider and model's part of a UsageReport; both are null for tasks that
// called no model.
type ModelUsage struct {
	Provider     *string `json:"provider"`
	Model        *string `json:"model"`
	Tasks        int64   `json:"tasks"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

// DayUsage is one UTC day's part of a UsageReport.
type DayUsage struct {
	Date    string  `json:"date"`
	Tasks   int64   `json:"tasks"`
	CostUSD float64 `json:"cost_usd"`
}

// BudgetUsage is the current month's budget: spent so far, reserved by the model calls
// running now (their worst case, until each settles), and what remains of the budget after
// both (null without a budget).
type BudgetUsage struct {
	MonthlyBudgetUSD *float64 `json:"monthly_budget_usd"`
	SpentUSD         float64  `json:"spent_usd"`
	ReservedUSD      float64  `json:"reserved_usd"`
	RemainingUSD     *float64 `json:"remaining_usd"`
}

// Usage calls GET /v1/usage for the UTC days from to to, inclusive; zero times leave the
// server's defaults (this month so far).
func (c *Client) Usage(ctx context.Context, from, to time.Time) (*UsageReport, error) {
	q := url.Values{}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.DateOnly))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.DateOnly))
	}
	var out UsageReport
	if _, err := c.do(ctx, &call{method: http.MethodGet, path: "/v1/usage", query: q, auth: tenantAuth}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
