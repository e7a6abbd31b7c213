package ingest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/store"
)

// GET /v1/usage sums the tenant's ended tasks — by status, model and day — and the month's
// budget; another tenant's usage never shows; bad dates are 400 invalid_parameter.
func TestUsage(t *testing.T) {
	t.Parallel()
	rc, prefix := redistest.Client(t)
	ledger := limits.NewRedisBudget(rc, prefix)
	e := newEnv(t, func(c *ingest.Config) { c.Budgets = ingest.Budgets{Ledger: ledger} })
	r := e.do(t, req{method: "POST", path: "/v1/admin/tenants", token: adminToken,
		body: map[string]any{"name": "acme", "tier": "pro", "monthly_budget_usd": 0.5}})
	require.Equal(t, http.StatusCreated, r.status)
	var ten client.Tenant
	r.decode(t, &ten)
	r = e.do(t, req{method: "POST", path: "/v1/admin/tenants/" + ten.ID + "/api-keys", token: adminToken})
	var k client.APIKey
	r.decode(t, &k)
	_, otherKey := e.tenant(t)

	ctx := context.Background()
	run := func(key string, res store.Result) {
		task := e.submit(t, key, map[string]any{"agent": "echo", "input": map[string]any{}})
		now := time.Now()
		_, err := e.store.StartTask(ctx, task.ID, now, now.Add(time.Minute))
		require.NoError(t, err)
		res.FinishedAt = time.Now()
		_, applied, err := e.store.FinishTask(ctx, task.ID, res)
		require.NoError(t, err)
		require.True(t, applied)
	}
	ok := store.Result{Status: store.StatusSucceeded, Output: json.RawMessage(`{}`), Provider: "openai", Model: "gpt-4o-mini",
		InputTokens: 1000, OutputTokens: 500, CostMicros: 150_000}
	run(k.Key, ok)
	run(k.Key, ok)
	run(k.Key, store.Result{Status: store.StatusFailed, Error: &store.TaskError{Code: "boom", Message: "x"}})
	run(otherKey, ok)

	r = e.do(t, req{method: "GET", path: "/v1/usage", token: k.Key})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var u client.UsageReport
	r.decode(t, &u)
	today := time.Now().UTC().Format(time.DateOnly)
	require.Equal(t, today, u.To)
	require.Equal(t, today[:8]+"01", u.From)
	require.Equal(t, map[string]int64{"succeeded": 2, "failed": 1, "canceled": 0}, u.Tasks)
	require.Equal(t, int64(2000), u.InputTokens)
	require.InDelta(t, 0.3, u.CostUSD, 1e-9)
	require.Len(t, u.ByModel, 2)
	require.Equal(t, "gpt-4o-mini", *u.ByModel[0].Model)
	require.Equal(t, int64(2), u.ByModel[0].Tasks)
	require.Nil(t, u.ByModel[1].Model, "the failed task called no model")
	require.Equal(t, []client.DayUsage{{Date: today, Tasks: 3, CostUSD: 0.3}}, u.ByDay)
	require.InDelta(t, 0.5, *u.Budget.MonthlyBudgetUSD, 1e-9)
	require.InDelta(t, 0.3, u.Budget.SpentUSD, 1e-9)
	require.Zero(t, u.Budget.ReservedUSD)
	require.InDelta(t, 0.2, *u.Budget.RemainingUSD, 1e-9)

	// A call in flight reserves its worst case: reported, and not remaining.
	month := limits.BudgetMonth(time.Now())
	reserved, _, err := ledger.Reserve(ctx, ten.ID, month, "call-1", 50_000, 500_000, time.Minute)
	require.NoError(t, err)
	require.True(t, reserved)
	r = e.do(t, req{method: "GET", path: "/v1/usage", token: k.Key})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	r.decode(t, &u)
	require.InDelta(t, 0.3, u.Budget.SpentUSD, 1e-9)
	require.InDelta(t, 0.05, u.Budget.ReservedUSD, 1e-9)
	require.InDelta(t, 0.15, *u.Budget.RemainingUSD, 1e-9)

	// The other tenant: its own task only, and no budget.
	r = e.do(t, req{method: "GET", path: "/v1/usage?from=2020-01-01&to=" + today, token: otherKey})
	require.Equal(t, http.StatusBadRequest, r.status, "more than 366 days")
	r = e.do(t, req{method: "GET", path: "/v1/usage?from=" + today + "&to=" + today, token: otherKey})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var other client.UsageReport
	r.decode(t, &other)
	require.Equal(t, int64(1), other.Tasks["succeeded"])
	require.Nil(t, other.Budget.MonthlyBudgetUSD)
	require.Nil(t, other.Budget.RemainingUSD)

	for _, q := range []string{"?from=yesterday", "?to=2026-13-01", "?from=2026-11-20&to=2026-11-10"} {
		e.do(t, req{method: "GET", path: "/v1/usage" + q, token: k.Key}).problem(t, http.StatusBadRequest, "invalid_parameter")
	}
}

// A submission once the month's spend has reached the budget is 402 budget_exceeded and
// makes no task: with a cold ledger seeded from the database's usage, and with a warm one the
// workers settle into. Raising the budget admits again at once.
func TestSubmissionOverBudgetIs402(t *testing.T) {
	t.Parallel()
	rc, prefix := redistest.Client(t)
	ledger := limits.NewRedisBudget(rc, prefix)
	e := newEnv(t, func(c *ingest.Config) { c.Budgets = ingest.Budgets{Ledger: ledger} })
	ctx := context.Background()
	echo := map[string]any{"agent": "echo", "input": map[string]any{}}
	budgeted := func() (string, string) {
		r := e.do(t, req{method: "POST", path: "/v1/admin/tenants", token: adminToken,
			body: map[string]any{"name": "acme", "tier": "pro", "monthly_budget_usd": 0.1}})
		require.Equal(t, http.StatusCreated, r.status)
		var ten client.Tenant
		r.decode(t, &ten)
		r = e.do(t, req{method: "POST", path: "/v1/admin/tenants/" + ten.ID + "/api-keys", token: adminToken})
		var k client.APIKey
		r.decode(t, &k)
		return ten.ID, k.Key
	}
	spend := func(tenantID string, micros int64) { // a task that ran and cost micros, in the database
		now := time.Now()
		tk := &store.Task{ID: store.NewID("tsk"), TenantID: tenantID, Agent: "echo", Input: json.RawMessage(`{}`), CreatedAt: now}
		_, _, err := e.store.CreateTask(ctx, tk)
		require.NoError(t, err)
		_, err = e.store.StartTask(ctx, tk.ID, now, now.Add(time.Minute))
		require.NoError(t, err)
		_, _, err = e.store.FinishTask(ctx, tk.ID, store.Result{Status: store.StatusSucceeded, Output: json.RawMessage(`{}`),
			Provider: "openai", Model: "gpt-4o", CostMicros: micros, FinishedAt: now})
		require.NoError(t, err)
	}

	// Cold: the spend is in the database only.
	cold, coldKey := budgeted()
	spend(cold, 100_000)
	p := e.do(t, req{method: "POST", path: "/v1/tasks", token: coldKey, body: echo}).problem(t, http.StatusPaymentRequired, "budget_exceeded")
	require.Contains(t, p.Detail, "$0.10")

	// Warm: the ledger was seeded (at $0) by a first submission, then a worker settled a call.
	warm, warmKey := budgeted()
	e.submit(t, warmKey, echo)
	month := limits.BudgetMonth(time.Now())
	ok, _, err := ledger.Reserve(ctx, warm, month, "call-1", 100_000, 100_000, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	e.do(t, req{method: "POST", path: "/v1/tasks", token: warmKey, body: echo}).problem(t, http.StatusPaymentRequired, "budget_exceeded")
	_, err = ledger.Settle(ctx, warm, month, "call-1", 100_000)
	require.NoError(t, err)
	e.do(t, req{method: "POST", path: "/v1/tasks", token: warmKey, body: echo}).problem(t, http.StatusPaymentRequired, "budget_exceeded")

	_, otherKey := e.tenant(t)
	e.submit(t, otherKey, echo) // a tenant without a budget is not held back

	r := e.do(t, req{method: "PATCH", path: "/v1/admin/tenants/" + cold, token: adminToken, body: map[string]any{"monthly_budget_usd": 1}})
	require.Equal(t, http.StatusOK, r.status)
	e.submit(t, coldKey, echo)
}

// GET /v1/usage shows the calls the LLM response cache answered in the period and what they
// saved, the tenant's own only; a period without any shows zeros, never a missing field.
func TestUsageCached(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	_, otherKey := e.tenant(t)
	ctx := context.Background()
	run := func(key string, outcome string, cost, saved int64) {
		task := e.submit(t, key, map[string]any{"agent": "echo", "input": map[string]any{}})
		now := time.Now()
		started, err := e.store.StartTask(ctx, task.ID, now, now.Add(time.Minute))
		require.NoError(t, err)
		_, applied, err := e.store.FinishTask(ctx, task.ID, store.Result{Status: store.StatusSucceeded,
			Output: json.RawMessage(`{}`), Provider: "openai", Model: "gpt-4o-mini", CostMicros: cost, FinishedAt: time.Now(),
			Calls: []store.LLMCall{{Attempt: started.Attempts, Seq: 1, Provider: "openai", Model: "gpt-4o-mini",
				InputTokens: 10, OutputTokens: 5, CostMicros: cost, Outcome: outcome, SavedMicros: saved, At: time.Now()}}})
		require.NoError(t, err)
		require.True(t, applied)
	}
	run(key, "ok", 20_000, 0)
	run(key, store.OutcomeCached, 0, 20_000)
	run(key, store.OutcomeCached, 0, 20_000)
	run(otherKey, store.OutcomeCached, 0, 70_000)

	r := e.do(t, req{method: "GET", path: "/v1/usage", token: key})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var u client.UsageReport
	r.decode(t, &u)
	require.Equal(t, int64(2), u.Cached.Calls)
	require.InDelta(t, 0.04, u.Cached.SavedUSD, 1e-9)
	require.InDelta(t, 0.02, u.CostUSD, 1e-9, "cached answers cost nothing")
	require.Equal(t, int64(3), u.Tasks["succeeded"], "tasks answered from the cache are tasks too")

	r = e.do(t, req{method: "GET", path: "/v1/usage", token: otherKey})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	r.decode(t, &u)
	require.Equal(t, client.CachedUsage{Calls: 1, SavedUSD: 0.07}, u.Cached)

	r = e.do(t, req{method: "GET", path: "/v1/usage?from=2026-01-01&to=2026-01-31", token: key})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(r.body, &raw))
	require.JSONEq(t, `{"calls": 0, "saved_usd": 0}`, string(raw["cached"]))
}
