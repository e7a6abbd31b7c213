package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/internal/promtest"
)

// scrape returns the value of the first sample of name whose labels match (see
// promtest.Sample) on the process's /metrics, or -1.
func scrape(t *testing.T, addr, name string, labels ...string) float64 {
	t.Helper()
	return promtest.Sample(promText(t, addr), name, labels...)
}

// Redis stops under a running ingest and worker. With the default AGENTIC_FAIL_OPEN
// (requests, executions, concurrency) tasks are still accepted and run, a budgeted tenant's
// submissions are refused with 503 (budgets fail closed), and each limit that could not decide
// is a log line and a count in agentic_limits_unavailable_total on /metrics. When Redis comes
// back, every limit applies again.
func TestLimitsWhenRedisStops(t *testing.T) {
	t.Parallel()
	rds := startRedis(t)
	c := newCluster(t, "REDIS_URL="+rds.url())
	ingest := c.start("ingest")
	worker := c.start("worker")
	_, open := tenant(t, ingest)
	budget := 10.0
	_, key := limitsTenant(t, ingest, "pro", &budget)
	capped := ingest.api(key)
	run := func(a *api) {
		t.Helper()
		var task client.Task
		require.Equal(t, http.StatusAccepted, a.do("POST", "/v1/tasks", client.SubmitRequest{
			Agent: "summarizer", Input: json.RawMessage(`{"text":"while redis is away"}`)}, &task))
		require.Equal(t, http.StatusOK, a.do("GET", "/v1/tasks/"+task.ID+"?wait=20s", nil, &task))
		require.Equal(t, "succeeded", task.Status)
	}
	run(open)
	run(capped)
	require.Equal(t, -1.0, scrape(t, ingest.addr, "agentic_limits_unavailable_total"), "no outage yet")

	rds.stop()
	run(open) // requests and executions fail open at ingest, concurrency in the worker
	var problem client.Problem
	require.Equal(t, http.StatusServiceUnavailable, capped.do("POST", "/v1/tasks", client.SubmitRequest{
		Agent: "summarizer", Input: json.RawMessage(`{"text":"budgets fail closed"}`)}, &problem))
	require.Equal(t, "unavailable", problem.Code)

	require.Positive(t, scrape(t, ingest.addr, "agentic_limits_unavailable_total", `limit="requests"`, `failing="open"`))
	require.Positive(t, scrape(t, ingest.addr, "agentic_limits_unavailable_total", `limit="executions"`, `failing="open"`))
	require.Positive(t, scrape(t, ingest.addr, "agentic_limits_unavailable_total", `limit="budgets"`, `failing="closed"`))
	require.Positive(t, scrape(t, worker.addr, "agentic_limits_unavailable_total", `limit="concurrency"`, `failing="open"`))
	for _, want := range []string{`"limit":"requests","failing":"open"`, `"limit":"budgets","failing":"closed"`} {
		require.Contains(t, ingest.output(), want)
	}
	require.Contains(t, worker.output(), `"limit":"concurrency","failing":"open"`)

	bin, err := exec.LookPath("redis-server")
	require.NoError(t, err)
	rds.start(bin)
	// The budget is checked again once Redis is back (the client redials within a second
	// or two).
	var task client.Task
	require.Eventually(t, func() bool {
		var got map[string]any
		if capped.do("POST", "/v1/tasks", client.SubmitRequest{
			Agent: "summarizer", Input: json.RawMessage(`{"text":"redis is back"}`)}, &got) != http.StatusAccepted {
			return false
		}
		task.ID, _ = got["id"].(string)
		return true
	}, 10*time.Second, 100*time.Millisecond, "budgets still fail closed with Redis back")
	require.Equal(t, http.StatusOK, capped.do("GET", "/v1/tasks/"+task.ID+"?wait=20s", nil, &task))
	require.Equal(t, "succeeded", task.Status)
	require.NotContains(t, ingest.output(), "redis: 20", "go-redis logs through the process's logger")
}
