package ingest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/internal/promtest"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/telemetry"
)

// The API's metrics: each request's duration by method, route pattern (unmatched: "other")
// and status; new tasks by agent, an idempotent replay not counted again; refusals by the
// limit that refused; API-key lookups by cache layer and result. No tenant, key or task id is
// ever a label.
func TestMetricsOfTheAPI(t *testing.T) {
	t.Parallel()
	m, err := telemetry.NewMetrics()
	require.NoError(t, err)
	e := newEnv(t, func(c *ingest.Config) {
		c.Meter = m.Meter("github.com/agentic-run/agentic/ingest")
		c.RateLimits = ingest.RateLimits{Window: limits.NewMemoryWindow(nil)}
		c.Budgets = ingest.Budgets{Ledger: limits.NewMemoryBudget(nil)}
	})
	tenantID, key := e.tenant(t)

	task := e.submit(t, key, echoTask)
	idem := map[string]string{"Idempotency-Key": "metrics-1"}
	r := e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: echoTask, header: idem})
	require.Equal(t, http.StatusAccepted, r.status)
	r = e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: echoTask, header: idem})
	require.Equal(t, http.StatusOK, r.status, "the replay")
	require.Equal(t, http.StatusOK, e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID, token: key}).status)
	e.do(t, req{method: "GET", path: "/v1/nowhere", token: key}).problem(t, http.StatusNotFound, "not_found")
	e.do(t, req{method: "BREW", path: "/v1/tasks", token: key}).problem(t, http.StatusMethodNotAllowed, "method_not_allowed")

	require.EqualValues(t, 2, promtest.Scrape(t, m.Handler(), "agentic_tasks_submitted_total", `agent="echo"`))
	require.EqualValues(t, 2, promtest.Scrape(t, m.Handler(), "http_server_request_duration_seconds_count",
		`http_response_status_code="202"`, `http_route="POST /v1/tasks"`))
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "http_server_request_duration_seconds_count",
		`http_response_status_code="200"`, `http_route="POST /v1/tasks"`))
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "http_server_request_duration_seconds_count",
		`http_request_method="GET"`, `http_response_status_code="200"`, `http_route="GET /v1/tasks/{id}"`))
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "http_server_request_duration_seconds_count",
		`http_request_method="GET"`, `http_response_status_code="404"`, `http_route="other"`))
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "http_server_request_duration_seconds_count",
		`http_request_method="_OTHER"`, `http_response_status_code="405"`, `http_route="other"`))
	require.Greater(t, promtest.Scrape(t, m.Handler(), "http_server_request_duration_seconds_sum", `http_route="POST /v1/tasks"`), 0.0)

	// The key was looked up: once missed everywhere, then found in process.
	require.GreaterOrEqual(t, promtest.Scrape(t, m.Handler(), "agentic_cache_lookups_total",
		`cache="api_keys"`, `layer="local"`, `result="miss"`), 1.0)
	require.GreaterOrEqual(t, promtest.Scrape(t, m.Handler(), "agentic_cache_lookups_total",
		`cache="api_keys"`, `layer="redis"`, `result="miss"`), 1.0)
	require.GreaterOrEqual(t, promtest.Scrape(t, m.Handler(), "agentic_cache_lookups_total",
		`cache="api_keys"`, `layer="local"`, `result="hit"`), 1.0)

	// A free tenant's 11th request in a minute, and a spent budget.
	_, free := e.tenantOfTier(t, "free")
	for range 10 {
		require.Equal(t, http.StatusOK, e.do(t, req{method: "GET", path: "/v1/agents", token: free}).status)
	}
	e.do(t, req{method: "GET", path: "/v1/agents", token: free}).problem(t, http.StatusTooManyRequests, "rate_limited")
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "agentic_limits_rejected_total", `limit="requests"`))
	r = e.do(t, req{method: "POST", path: "/v1/admin/tenants", token: adminToken,
		body: map[string]any{"name": "broke", "tier": "pro", "monthly_budget_usd": 0}})
	require.Equal(t, http.StatusCreated, r.status)
	var broke client.Tenant
	r.decode(t, &broke)
	r = e.do(t, req{method: "POST", path: "/v1/admin/tenants/" + broke.ID + "/api-keys", token: adminToken})
	var brokeKey client.APIKey
	r.decode(t, &brokeKey)
	e.do(t, req{method: "POST", path: "/v1/tasks", token: brokeKey.Key, body: echoTask}).problem(t, http.StatusPaymentRequired, "budget_exceeded")
	require.EqualValues(t, 1, promtest.Scrape(t, m.Handler(), "agentic_limits_rejected_total", `limit="budgets"`))
	require.EqualValues(t, -1, promtest.Scrape(t, m.Handler(), "agentic_limits_rejected_total", `limit="executions"`))

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, id := range []string{tenantID, broke.ID, task.ID, key[:12]} {
		require.NotContains(t, rec.Body.String(), id, "no tenant, task or key is a label")
	}
}
