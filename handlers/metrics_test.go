package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/internal/promtest"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/telemetry"
)

// A worker's task metrics: tasks finished by agent and status with their run time, the queue
// wait of each first start, and every model call — the failed one with its error type, the
// answered one with its tokens and its cost at the model's price.
func TestTaskMetrics(t *testing.T) {
	t.Parallel()
	m, err := telemetry.NewMetrics()
	require.NoError(t, err)
	h := newHarness(t, 5*time.Second)
	cfg := h.tasksConfig(llm.SimConfig{}, 5*time.Second)
	cfg.Meter = m.Meter("github.com/agentic-run/agentic/handlers")
	p := &flaky{Provider: llm.NewSim(llm.SimConfig{Latency: time.Millisecond})}
	p.failures.Store(1)
	h.serve(&cfg, p, llm.Model{ID: "gpt-4o-mini", Provider: "openai", ContextWindow: 128_000,
		InputPerMillion: 150_000, OutputPerMillion: 600_000})
	h.runTasks(cfg, time.Second)

	echo := h.submit("echo", `{"x":1}`)
	sum := h.submit("summarizer", `{"text":"Agentic runs AI agents as tasks. It is durable. It is fair."}`)
	h.waitStatus(echo.ID, store.StatusSucceeded, 10*time.Second)
	done := h.waitStatus(sum.ID, store.StatusSucceeded, 10*time.Second)
	require.Equal(t, 2, done.Attempts, "the first call failed")

	require.Eventually(t, func() bool {
		return promtest.Scrape(t, m.Handler(), "agentic_tasks_finished_total", `agent="summarizer"`, `status="succeeded"`) == 1
	}, 5*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "agentic_tasks_finished_total", `agent="echo"`, `status="succeeded"`))
	for _, agent := range []string{"echo", "summarizer"} {
		require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "agentic_task_queue_wait_seconds_count", `agent="`+agent+`"`),
			"one first start of %s", agent)
		require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "agentic_task_run_time_seconds_count", `agent="`+agent+`"`, `status="succeeded"`))
	}
	require.Greater(t, promtest.Scrape(t, m.Handler(), "agentic_task_run_time_seconds_sum", `agent="summarizer"`), 0.0)

	gen := []string{`gen_ai_operation_name="chat"`, `gen_ai_provider_name="sim"`, `gen_ai_request_model="gpt-4o-mini"`}
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "agentic_llm_calls_total", `model="gpt-4o-mini"`, `outcome="error"`, `provider="sim"`))
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "agentic_llm_calls_total", `model="gpt-4o-mini"`, `outcome="ok"`, `provider="sim"`))
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "gen_ai_client_operation_duration_seconds_count", append(gen, `error_type="error"`)...))
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "gen_ai_client_operation_duration_seconds_count", append(gen, "!error_type=")...))
	require.Greater(t, promtest.Scrape(t, m.Handler(), "gen_ai_client_operation_duration_seconds_sum", append(gen, "!error_type=")...), 0.0)
	for _, typ := range []string{"input", "output"} {
		labels := append([]string{`gen_ai_token_type="` + typ + `"`}, gen...)
		require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "gen_ai_client_token_usage_count", labels...))
		require.Greater(t, promtest.Scrape(t, m.Handler(), "gen_ai_client_token_usage_sum", labels...), 0.0)
	}
	require.InDelta(t, store.MicrosToUSD(done.CostMicros),
		promtest.Scrape(t, m.Handler(), "agentic_llm_cost_total", `model="gpt-4o-mini"`, `provider="sim"`), 1e-12)
	require.Positive(t, done.CostMicros)
}

// Webhook attempts are counted by outcome: a failure retried, then delivered; a receiver
// that never answers 2xx, given up; a target the policy refuses.
func TestWebhookMetrics(t *testing.T) {
	t.Parallel()
	m, err := telemetry.NewMetrics()
	require.NoError(t, err)
	h := newHarness(t, 5*time.Second)
	flakyRecv, deadRecv := newReceiver(t, 1), newReceiver(t, 1000)
	h.runWebhooks(handlers.WebhooksConfig{Store: h.store, Sender: localSender(t),
		GiveUpAfter: time.Second, RetryDelay: func(uint64) time.Duration { return 50 * time.Millisecond },
		Meter: m.Meter("github.com/agentic-run/agentic/handlers")})

	ctx := context.Background()
	for _, url := range []string{flakyRecv.srv.URL, deadRecv.srv.URL, "http://10.1.2.3/hook"} {
		task := h.insert("echo", `{}`, func(t *store.Task) { t.WebhookURL = url })
		done, _, err := h.store.FinishTask(ctx, task.ID, store.Result{
			Status: store.StatusSucceeded, Output: []byte(`{}`), FinishedAt: time.Now()})
		require.NoError(t, err)
		require.NoError(t, h.pub.PublishEvent(ctx, events.TerminalEvent(done)))
	}
	require.Eventually(t, func() bool {
		return promtest.Scrape(t, m.Handler(), "agentic_webhooks_deliveries_total", `outcome="gave_up"`) == 1
	}, 10*time.Second, 20*time.Millisecond)
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "agentic_webhooks_deliveries_total", `outcome="delivered"`))
	require.Greater(t, promtest.Scrape(t, m.Handler(), "agentic_webhooks_deliveries_total", `outcome="retry"`), 1.0,
		"the flaky receiver's first attempt and the dead one's")
	require.Positive(t, promtest.Scrape(t, m.Handler(), "agentic_webhooks_deliveries_total", `outcome="refused"`))
}
