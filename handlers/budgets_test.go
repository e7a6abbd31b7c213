package handlers_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
)

// 50 tasks at once against a budget of 10 calls' worth, on two workers: the spend never
// passes the budget, every task either succeeds or fails budget_exceeded, and the ledger's
// spend is what the tasks recorded. Each call reserves its worst case (the agent's whole
// maximum answer), about 8 times what it costs, so the budget is one worst case plus ten
// calls' real cost: a task fails only once what is left cannot hold a worst case even after
// the calls in flight settle; until then it waits for them in the queue.
func TestBudgetIsNeverOvershot(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	const input = `{"text":"Budgets are reserved before each call and settled after it."}`
	agent, err := h.agents.Get("summarizer")
	require.NoError(t, err)
	msgs, err := agent.Prompt(json.RawMessage(input))
	require.NoError(t, err)
	priced := llm.Model{ID: "sim", Provider: "sim", ContextWindow: 128_000, InputPerMillion: 1_000_000, OutputPerMillion: 1_000_000} // $1 a token
	worst := priced.Cost(llm.InputTokens(msgs), int64(agent.MaxOutputTokens))
	resp, err := llm.NewSim(llm.SimConfig{}).Complete(context.Background(), llm.Request{Model: "sim", Messages: msgs, MaxTokens: agent.MaxOutputTokens})
	require.NoError(t, err)
	call := priced.Cost(resp.InputTokens, resp.OutputTokens)
	require.Less(t, call, worst, "a call costs less than its worst case")
	budget := worst + 10*call
	_, err = h.store.UpdateTenant(context.Background(), h.tenant.ID, store.TenantPatch{MonthlyBudgetMicros: &budget})
	require.NoError(t, err)

	rc, prefix := redistest.Client(t)
	ledger := limits.NewRedisBudget(rc, prefix)
	for range 2 {
		cfg := h.tasksConfig(llm.SimConfig{Latency: 100 * time.Millisecond}, 5*time.Second)
		h.serve(&cfg, llm.NewSim(llm.SimConfig{Latency: 100 * time.Millisecond}), priced)
		cfg.Budgets = &handlers.Budgets{Ledger: ledger, Tenants: &handlers.TenantCache{Store: h.store}, Usage: h.store}
		h.runTasks(cfg, time.Second)
	}
	var ids []string
	for range 50 {
		ids = append(ids, h.submit("summarizer", input).ID)
	}
	var spent int64
	succeeded := 0
	for _, id := range ids {
		var tk *store.Task
		require.Eventually(t, func() bool {
			var err error
			tk, err = h.store.LoadTask(context.Background(), id)
			require.NoError(t, err)
			return tk.Status.Terminal()
		}, 30*time.Second, 10*time.Millisecond)
		switch tk.Status {
		case store.StatusSucceeded:
			succeeded++
			spent += tk.CostMicros
		case store.StatusFailed:
			require.Equal(t, handlers.CodeBudgetExceeded, tk.Error.Code, "task %s", id)
		default:
			t.Fatalf("task %s ended %s", id, tk.Status)
		}
	}
	require.LessOrEqual(t, spent, budget, "the spend passed the budget")
	require.Equal(t, 11, succeeded, "ten calls' worth, and one more while a worst case still fit")
	require.Greater(t, spent+worst, budget, "a task failed while the budget could still hold a call")
	st, err := ledger.State(context.Background(), h.tenant.ID, limits.BudgetMonth(time.Now()))
	require.NoError(t, err)
	require.Equal(t, spent, st.SpentMicros, "the ledger's spend is the tasks' cost")
	require.Zero(t, st.ReservedMicros, "nothing is left reserved")
}

// The worker's tenant cache answers from memory until a tenant changes, then reads it again.
func TestTenantCacheForget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 5*time.Second)
	c := &handlers.TenantCache{Store: h.store, TTL: time.Hour}
	got, err := c.GetTenant(context.Background(), h.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, "pro", got.Tier)
	_, err = h.store.UpdateTenant(context.Background(), h.tenant.ID, store.TenantPatch{Tier: ptr("basic")})
	require.NoError(t, err)
	got, err = c.GetTenant(context.Background(), h.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, "pro", got.Tier, "cached")
	c.Forget(h.tenant.ID)
	got, err = c.GetTenant(context.Background(), h.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, "basic", got.Tier, "read again after Forget")
	_, err = c.GetTenant(context.Background(), "ten_unknown")
	require.ErrorIs(t, err, store.ErrNotFound)
}
