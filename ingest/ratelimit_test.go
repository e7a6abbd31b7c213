package ingest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
)

// tenantOfTier creates a tenant of tier with a key.
func (e *env) tenantOfTier(t *testing.T, tier string) (tenantID, key string) {
	t.Helper()
	r := e.do(t, req{method: "POST", path: "/v1/admin/tenants", token: adminToken, body: map[string]any{"name": "t", "tier": tier}})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var ten client.Tenant
	r.decode(t, &ten)
	r = e.do(t, req{method: "POST", path: "/v1/admin/tenants/" + ten.ID + "/api-keys", token: adminToken})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var k client.APIKey
	r.decode(t, &k)
	return ten.ID, k.Key
}

func headerInt(t *testing.T, h http.Header, name string) int {
	t.Helper()
	v, err := strconv.Atoi(h.Get(name))
	require.NoError(t, err, "%s: %q", name, h.Get(name))
	return v
}

// A free tenant's 11th request in a minute is refused with 429, Retry-After and
// code rate_limited — counted across two replicas on separate Redis connections — while
// every answer carries the RateLimit headers and another tenant is untouched.
func TestFreeTenantsEleventhRequestIs429(t *testing.T) {
	t.Parallel()
	rc, prefix := redistest.Client(t)
	e := newEnv(t, func(c *ingest.Config) {
		c.RateLimits = ingest.RateLimits{Window: limits.NewRedisWindow(rc, prefix)}
	})
	rc2, _ := redistest.Client(t)
	cfg := e.cfg
	cfg.RateLimits.Window = limits.NewRedisWindow(rc2, prefix)
	other, err := ingest.New(cfg)
	require.NoError(t, err)
	replica := httptest.NewServer(other.Handler())
	t.Cleanup(replica.Close)

	_, free := e.tenantOfTier(t, "free")
	for i := range 10 {
		base := e.http.URL
		if i%2 == 1 {
			base = replica.URL
		}
		r := e.do(t, req{method: "GET", path: "/v1/agents", token: free, base: base})
		require.Equal(t, http.StatusOK, r.status, "request %d: %s", i+1, r.body)
		require.Equal(t, 10, headerInt(t, r.header, "RateLimit-Limit"))
		require.Equal(t, 9-i, headerInt(t, r.header, "RateLimit-Remaining"))
		reset := headerInt(t, r.header, "RateLimit-Reset")
		require.True(t, reset >= 1 && reset <= 60, "RateLimit-Reset %d", reset)
	}
	r := e.do(t, req{method: "GET", path: "/v1/tasks", token: free, base: replica.URL})
	r.problem(t, http.StatusTooManyRequests, "rate_limited")
	retry := headerInt(t, r.header, "Retry-After")
	require.True(t, retry >= 1 && retry <= 60, "Retry-After %d", retry)
	require.Equal(t, 0, headerInt(t, r.header, "RateLimit-Remaining"))

	_, pro := e.tenantOfTier(t, "pro")
	r = e.do(t, req{method: "GET", path: "/v1/agents", token: pro})
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, 1000, headerInt(t, r.header, "RateLimit-Limit"))
	require.Equal(t, 999, headerInt(t, r.header, "RateLimit-Remaining"))
}

// Submissions count against the tenant's executions per hour and an agent's own cap;
// a refused submission makes no task, and reads go on.
func TestExecutionsPerHour(t *testing.T) {
	t.Parallel()
	rc, prefix := redistest.Client(t)
	tiers := limits.DefaultTiers()
	tiers["free"] = limits.Tier{RequestsPerMinute: 100, ExecutionsPerHour: 3, Concurrent: 1, Weight: 1}
	capped := 2
	catalog, err := agents.NewCatalog(
		&agents.Agent{ID: "echo", Name: "Echo", Quality: "economy", NoModel: true, InputSchema: json.RawMessage(`{"type":"object"}`)},
		&agents.Agent{ID: "capped", Name: "Capped", Quality: "economy", NoModel: true, InputSchema: json.RawMessage(`{"type":"object"}`),
			MaxExecutionsPerHour: &capped},
	)
	require.NoError(t, err)
	e := newEnv(t, func(c *ingest.Config) {
		c.Agents = catalog
		c.RateLimits = ingest.RateLimits{Window: limits.NewRedisWindow(rc, prefix), Tiers: tiers}
	})
	_, key := e.tenantOfTier(t, "free")
	submit := func(agent string) *reply {
		return e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: map[string]any{"agent": agent, "input": map[string]any{}}})
	}

	// The agent's cap: 2 an hour; its refusal is not counted in the tenant's 3.
	for range 2 {
		r := submit("capped")
		require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
	}
	r := submit("capped")
	p := r.problem(t, http.StatusTooManyRequests, "rate_limited")
	require.Contains(t, p.Detail, "capped")
	require.Equal(t, 2, headerInt(t, r.header, "RateLimit-Limit"), "the headers describe the limit that refused")
	require.Positive(t, headerInt(t, r.header, "Retry-After"))

	r = submit("echo")
	require.Equal(t, http.StatusAccepted, r.status, "the third of the tenant's 3: body %s", r.body)
	require.Equal(t, 0, headerInt(t, r.header, "RateLimit-Remaining"), "the nearest limit: executions, 0 left")
	r = submit("echo")
	r.problem(t, http.StatusTooManyRequests, "rate_limited")
	require.Equal(t, 3, headerInt(t, r.header, "RateLimit-Limit"))

	list := e.do(t, req{method: "GET", path: "/v1/tasks", token: key})
	require.Equal(t, http.StatusOK, list.status)
	var tasks client.TaskList
	list.decode(t, &tasks)
	require.Len(t, tasks.Data, 3, "refused submissions made no task")
}

// A tier change through PATCH applies at once: a free tenant at its limit is admitted as
// soon as it is enterprise.
func TestTierChangeAppliesAtOnce(t *testing.T) {
	t.Parallel()
	rc, prefix := redistest.Client(t)
	e := newEnv(t, func(c *ingest.Config) { c.RateLimits = ingest.RateLimits{Window: limits.NewRedisWindow(rc, prefix)} })
	id, key := e.tenantOfTier(t, "free")
	for range 10 {
		require.Equal(t, http.StatusOK, e.do(t, req{method: "GET", path: "/v1/agents", token: key}).status)
	}
	e.do(t, req{method: "GET", path: "/v1/agents", token: key}).problem(t, http.StatusTooManyRequests, "rate_limited")
	r := e.do(t, req{method: "PATCH", path: "/v1/admin/tenants/" + id, token: adminToken, body: map[string]any{"tier": "enterprise"}})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	r = e.do(t, req{method: "GET", path: "/v1/agents", token: key})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Equal(t, 10000, headerInt(t, r.header, "RateLimit-Limit"))
}

// With Redis unreachable each limit fails open or closed as configured, and says so.
func TestRateLimitsWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	for _, open := range []bool{true, false} {
		t.Run(map[bool]string{true: "open", false: "closed"}[open], func(t *testing.T) {
			var outages *limits.Outages
			e := newEnv(t, func(c *ingest.Config) {
				c.RateLimits = ingest.RateLimits{Window: limits.NewRedisWindow(down, "down"),
					RequestsFailOpen: open, ExecutionsFailOpen: open}
				outages = &limits.Outages{Logger: c.Logger}
				c.Outages = outages
			})
			_, key := e.tenantOfTier(t, "free")
			r := e.do(t, req{method: "GET", path: "/v1/agents", token: key})
			if open {
				require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
				require.Empty(t, r.header.Get("RateLimit-Limit"), "no decision, no headers")
				r = e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: map[string]any{"agent": "echo", "input": map[string]any{}}})
				require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
			} else {
				r.problem(t, http.StatusServiceUnavailable, "unavailable")
				require.Equal(t, "1", r.header.Get("Retry-After"))
			}
			require.Positive(t, outages.Count(limits.LimitRequests))
			logs := e.logs.String()
			require.Contains(t, logs, `"msg":"limits unavailable"`)
			require.Contains(t, logs, `"failing":"`+map[bool]string{true: "open", false: "closed"}[open]+`"`)
			require.Equal(t, 1, strings.Count(logs, `"limit":"requests"`), "one log line per outage, not per request")
		})
	}
}
