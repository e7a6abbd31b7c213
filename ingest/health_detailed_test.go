package ingest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/health"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/store"
)

// GET /health/detailed is an admin route reporting the ready checks (or the probes standing
// in for them), the workers that announced themselves and their providers.
func TestHealthDetailed(t *testing.T) {
	t.Parallel()
	workers := &health.Workers{}
	e := newEnv(t, func(c *ingest.Config) {
		c.Detailed = &health.Detailed{
			Probes: map[string]health.Probe{"nats": func(context.Context) (map[string]any, error) {
				return map[string]any{"pending_tasks": 4}, nil
			}},
			Workers: workers.Status, Providers: workers.Providers,
			AdminToken: "ignored: the admin guard is ingest's",
		}
		c.TaskCache = c.KeyCache
	})
	_, key := e.tenant(t)
	e.do(t, req{method: "GET", path: "/health/detailed"}).problem(t, http.StatusUnauthorized, "unauthorized")
	e.do(t, req{method: "GET", path: "/health/detailed", token: "wrong"}).problem(t, http.StatusUnauthorized, "unauthorized")
	e.do(t, req{method: "GET", path: "/health/detailed", token: key}).problem(t, http.StatusForbidden, "forbidden")

	type report struct {
		Status, Version string
		Checks          map[string]struct {
			Status       string
			PendingTasks *int `json:"pending_tasks"`
		}
		Providers map[string]health.ProviderStatus
		Workers   health.WorkersStatus
		Cache     health.CacheStatus
		Caches    map[string]health.CacheStatus
	}
	var got report
	r := e.do(t, req{method: "GET", path: "/health/detailed", token: adminToken})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	r.decode(t, &got)
	require.Equal(t, "degraded", got.Status, "no worker yet")
	require.Equal(t, "test", got.Version)
	require.Equal(t, "ok", got.Checks["database"].Status)
	require.Equal(t, "ok", got.Checks["redis"].Status)
	require.Equal(t, "ok", got.Checks["nats"].Status)
	require.Equal(t, 4, *got.Checks["nats"].PendingTasks)
	require.Zero(t, got.Workers.Count)

	workers.Observe(health.Heartbeat{ID: "w1", Hostname: "h", Concurrency: 8, Running: 2, Providers: []string{"sim"}})
	got = report{}
	e.do(t, req{method: "GET", path: "/health/detailed", token: adminToken}).decode(t, &got)
	require.Equal(t, "ok", got.Status)
	require.Equal(t, 1, got.Workers.Count)
	require.Equal(t, 2, got.Workers.RunningTasks)
	require.Equal(t, "w1", got.Workers.List[0].ID)
	require.Equal(t, "closed", got.Providers["sim"].Circuit)

	// The API-key cache: the tenant key's lookup (forbidden above) found it in the database,
	// then two requests with it are answered from the cache.
	for range 2 {
		e.do(t, req{method: "GET", path: "/v1/agents", token: key})
	}
	got = report{}
	e.do(t, req{method: "GET", path: "/health/detailed", token: adminToken}).decode(t, &got)
	require.GreaterOrEqual(t, got.Cache.Lookups, int64(3))
	require.GreaterOrEqual(t, got.Cache.Hits, int64(2))
	require.InDelta(t, float64(got.Cache.Hits)/float64(got.Cache.Lookups), got.Cache.HitRate, 1e-9)

	// "caches" lists each named cache with its own lookups, each layer's Get counted: the
	// API keys' (in process, then Redis) and the terminal tasks', the first read a miss and
	// the next two hits.
	require.Contains(t, got.Caches, "api_keys")
	keys := got.Caches["api_keys"]
	require.GreaterOrEqual(t, keys.Lookups, int64(4), "the first lookup missed both layers")
	require.GreaterOrEqual(t, keys.Hits, int64(2))
	require.Equal(t, keys.Hits, got.Cache.Hits, "each hit is one layer's")
	require.InDelta(t, float64(keys.Hits)/float64(keys.Lookups), keys.HitRate, 1e-9)
	require.Contains(t, got.Caches, "tasks")
	require.Equal(t, health.CacheStatus{}, got.Caches["tasks"], "no task read yet")

	task := e.submit(t, key, echoTask)
	e.finish(t, task.ID, store.StatusSucceeded)
	for range 3 {
		require.Equal(t, http.StatusOK, e.do(t, req{method: "GET", path: "/v1/tasks/" + task.ID, token: key}).status)
	}
	got = report{}
	e.do(t, req{method: "GET", path: "/health/detailed", token: adminToken}).decode(t, &got)
	require.Equal(t, health.CacheStatus{Hits: 2, Lookups: 3, HitRate: 2.0 / 3}, got.Caches["tasks"])
}
