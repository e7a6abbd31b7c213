package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/internal/promtest"
)

// promText reads a process's /metrics.
func promText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// After a run of summarizer and echo tasks with webhooks and one refused submission,
// ingest's and the worker's /metrics hold every family an operator needs, with values that
// match what happened — and no tenant or task id in any label.
func TestMetricsAfterARun(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ingest := c.start("ingest")
	worker := c.start("worker")
	ten, tn := tenant(t, ingest)
	recv := newHooks(t, &ten.WebhookSecret)

	const summaries, echoes = 3, 4
	var ids []string
	for i := range summaries + echoes {
		req := client.SubmitRequest{Agent: "echo", Input: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
			WebhookURL: recv.srv.URL + "/hook"}
		if i < summaries {
			// Out of the response cache, so that every summary is a model call to count.
			noCache := false
			req.Agent, req.Input, req.Cache = "summarizer", json.RawMessage(`{"text":"Agentic runs agents. Durably. Fairly."}`), &noCache
		}
		var task client.Task
		require.Equal(t, http.StatusAccepted, tn.do("POST", "/v1/tasks", req, &task))
		ids = append(ids, task.ID)
	}
	// One refusal: a tenant whose monthly budget is $0.
	admin := ingest.api(adminToken)
	var broke client.Tenant
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants",
		map[string]any{"name": "broke", "tier": "pro", "monthly_budget_usd": 0}, &broke))
	var brokeKey client.APIKey
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants/"+broke.ID+"/api-keys", map[string]any{"name": "e2e"}, &brokeKey))
	var problem client.Problem
	require.Equal(t, http.StatusPaymentRequired, ingest.api(brokeKey.Key).do("POST", "/v1/tasks",
		client.SubmitRequest{Agent: "echo", Input: json.RawMessage(`{}`)}, &problem))
	require.Equal(t, "budget_exceeded", problem.Code)

	for _, id := range ids {
		var task client.Task
		require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+id+"?wait=30s", nil, &task))
		require.Equal(t, "succeeded", task.Status, "task %s", id)
	}
	require.Eventually(t, func() bool { d, _ := recv.count(); return d == len(ids) }, 30*time.Second, 20*time.Millisecond)

	// The worker counts a task and a delivery just after its write: wait for the last ones.
	var wm string
	require.Eventually(t, func() bool {
		wm = promText(t, worker.addr)
		fin, _ := promtest.Sum(wm, "agentic_tasks_finished_total")
		del, _ := promtest.Sum(wm, "agentic_webhooks_deliveries_total", `outcome="delivered"`)
		return fin == summaries+echoes && del == summaries+echoes
	}, 10*time.Second, 50*time.Millisecond, "worker metrics:\n%s", wm)
	im := promText(t, ingest.addr)

	value := func(text, name string, labels ...string) float64 {
		t.Helper()
		v, found := promtest.Sum(text, name, labels...)
		require.True(t, found, "%s{%s} is exported", name, strings.Join(labels, ","))
		return v
	}

	// Ingest.
	require.EqualValues(t, summaries+echoes, value(im, "http_server_request_duration_seconds_count",
		`http_request_method="POST"`, `http_response_status_code="202"`, `http_route="POST /v1/tasks"`))
	require.EqualValues(t, 1, value(im, "http_server_request_duration_seconds_count",
		`http_request_method="POST"`, `http_response_status_code="402"`, `http_route="POST /v1/tasks"`))
	require.Positive(t, value(im, "http_server_request_duration_seconds_sum", `http_route="POST /v1/tasks"`))
	require.EqualValues(t, len(ids), value(im, "http_server_request_duration_seconds_count",
		`http_request_method="GET"`, `http_route="GET /v1/tasks/{id}"`))
	require.EqualValues(t, summaries, value(im, "agentic_tasks_submitted_total", `agent="summarizer"`))
	require.EqualValues(t, echoes, value(im, "agentic_tasks_submitted_total", `agent="echo"`))
	require.EqualValues(t, 1, value(im, "agentic_limits_rejected_total", `limit="budgets"`))
	lookups := value(im, "agentic_cache_lookups_total", `cache="api_keys"`)
	require.Positive(t, value(im, "agentic_cache_lookups_total", `cache="api_keys"`, `result="hit"`))
	require.Positive(t, value(im, "agentic_cache_lookups_total", `cache="api_keys"`, `result="miss"`))
	require.GreaterOrEqual(t, lookups, float64(summaries+echoes+len(ids)+1), "one lookup at least per tenant request")

	// The worker: tasks.
	require.EqualValues(t, summaries, value(wm, "agentic_tasks_finished_total", `agent="summarizer"`, `status="succeeded"`))
	require.EqualValues(t, echoes, value(wm, "agentic_tasks_finished_total", `agent="echo"`, `status="succeeded"`))
	for agent, n := range map[string]int{"summarizer": summaries, "echo": echoes} {
		require.EqualValues(t, n, value(wm, "agentic_task_queue_wait_seconds_count", `agent="`+agent+`"`))
		require.EqualValues(t, n, value(wm, "agentic_task_run_time_seconds_count", `agent="`+agent+`"`, `status="succeeded"`))
		require.Positive(t, value(wm, "agentic_task_run_time_seconds_sum", `agent="`+agent+`"`))
		require.Positive(t, value(wm, "agentic_task_queue_wait_seconds_sum", `agent="`+agent+`"`))
	}
	require.GreaterOrEqual(t, value(wm, "agentic_tasks_pending"), 0.0)
	for _, consumer := range []string{"webhooks", "ops"} {
		require.GreaterOrEqual(t, value(wm, "agentic_consumer_pending", `consumer="`+consumer+`"`), 0.0)
	}

	// The worker: model calls, one per summary (the sim provider answers every one).
	gen := []string{`gen_ai_operation_name="chat"`, `gen_ai_provider_name="sim"`, `gen_ai_request_model="`}
	require.EqualValues(t, summaries, value(wm, "gen_ai_client_operation_duration_seconds_count", append(gen, "!error_type=")...))
	require.Positive(t, value(wm, "gen_ai_client_operation_duration_seconds_sum", gen...))
	for _, typ := range []string{"input", "output"} {
		labels := append([]string{`gen_ai_token_type="` + typ + `"`}, gen...)
		require.EqualValues(t, summaries, value(wm, "gen_ai_client_token_usage_count", labels...))
		require.Positive(t, value(wm, "gen_ai_client_token_usage_sum", labels...))
	}
	require.EqualValues(t, summaries, value(wm, "agentic_llm_calls_total", `outcome="ok"`, `provider="sim"`))
	require.Positive(t, value(wm, "agentic_llm_cost_total", `provider="sim"`), "the sim-routed models are priced")

	// The worker: webhooks, each delivered at the first attempt.
	require.EqualValues(t, len(ids), value(wm, "agentic_webhooks_deliveries_total", `outcome="delivered"`))
	_, retried := promtest.Sum(wm, "agentic_webhooks_deliveries_total", `outcome="retry"`)
	require.False(t, retried)

	for _, id := range append(ids, ten.ID, broke.ID) {
		require.NotContains(t, im, id)
		require.NotContains(t, wm, id)
	}
}
