package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/health"
)

func TestCircuits(t *testing.T) {
	t.Parallel()
	got := health.Circuits([]string{"anthropic", "openai", "sim"}, []health.Circuit{
		{Provider: "openai", Model: "gpt-4o", State: "open"},
		{Provider: "openai", Model: "gpt-4o-mini", State: "closed"},
		{Provider: "anthropic", Model: "claude-3-5-haiku", State: "open"},
	})
	require.Equal(t, health.ProviderStatus{Status: "degraded", Circuit: "open",
		Models: map[string]string{"gpt-4o": "open", "gpt-4o-mini": "closed"}}, got["openai"])
	require.Equal(t, health.ProviderStatus{Status: "down", Circuit: "open",
		Models: map[string]string{"claude-3-5-haiku": "open"}}, got["anthropic"])
	require.Equal(t, health.ProviderStatus{Status: "ok", Circuit: "closed", Models: map[string]string{}}, got["sim"], "never called")
}

// /health/detailed wants the admin token, reports every check and circuit, and is "down" when
// a check fails and "degraded" when a circuit is not closed.
func TestDetailed(t *testing.T) {
	t.Parallel()
	var circuits []health.Circuit
	failing := false
	mux := http.NewServeMux()
	health.RegisterDetailed(mux, map[string]health.Check{
		"database": func(context.Context) error {
			if failing {
				return errors.New("connection refused")
			}
			return nil
		},
	}, health.Detailed{Version: "v1", AdminToken: "secret-admin-token", Providers: func() map[string]health.ProviderStatus {
		return health.Circuits([]string{"openai"}, circuits)
	}})
	get := func(token string) (int, map[string]any) {
		req := httptest.NewRequest("GET", "/health/detailed", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		return rec.Code, body
	}
	code, _ := get("")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = get("wrong")
	require.Equal(t, http.StatusUnauthorized, code)

	code, body := get("secret-admin-token")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", body["status"])
	require.Equal(t, "v1", body["version"])
	require.Equal(t, "ok", body["checks"].(map[string]any)["database"].(map[string]any)["status"])

	circuits = []health.Circuit{{Provider: "openai", Model: "gpt-4o", State: "half_open"}}
	_, body = get("secret-admin-token")
	require.Equal(t, "degraded", body["status"])
	require.Equal(t, "half_open", body["providers"].(map[string]any)["openai"].(map[string]any)["circuit"])

	failing = true
	_, body = get("secret-admin-token")
	require.Equal(t, "down", body["status"])
}

// A check's probe adds its figures beside the status; a failing probe shows none.
func TestDetailedProbes(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	mux := http.NewServeMux()
	health.RegisterDetailed(mux, map[string]health.Check{
		"nats":     func(context.Context) error { return errors.New("the check the probe replaces") },
		"database": func(context.Context) error { return nil },
	}, health.Detailed{Version: "v1", Probes: map[string]health.Probe{
		"nats": func(context.Context) (map[string]any, error) {
			if failing.Load() {
				return map[string]any{"pending_tasks": 1}, errors.New("not connected")
			}
			return map[string]any{"pending_tasks": 7}, nil
		},
	}})
	get := func() map[string]any {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/health/detailed", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		return body
	}
	body := get()
	require.Equal(t, "ok", body["status"], "no admin token configured: open")
	nats := body["checks"].(map[string]any)["nats"].(map[string]any)
	require.Equal(t, "ok", nats["status"])
	require.Equal(t, 7.0, nats["pending_tasks"])
	require.Contains(t, nats, "latency_ms")
	require.NotContains(t, body, "workers", "no workers section where none is collected")

	failing.Store(true)
	body = get()
	require.Equal(t, "down", body["status"])
	nats = body["checks"].(map[string]any)["nats"].(map[string]any)
	require.Equal(t, "down", nats["status"])
	require.Equal(t, "not connected", nats["error"])
	require.NotContains(t, nats, "pending_tasks")
}

// The workers section lists the workers alive; none makes the report degraded.
func TestDetailedWorkers(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	workers := &health.Workers{Now: func() time.Time { return now }}
	h := health.DetailedHandler(map[string]health.Check{"database": func(context.Context) error { return nil }},
		health.Detailed{Version: "v1", Workers: workers.Status, Providers: workers.Providers})
	get := func() map[string]any {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/health/detailed", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		return body
	}
	body := get()
	require.Equal(t, "degraded", body["status"], "no worker")
	require.Equal(t, map[string]any{"count": 0.0, "running_tasks": 0.0, "list": []any{}}, body["workers"])

	workers.Observe(health.Heartbeat{ID: "w1", Hostname: "host-a", Concurrency: 64, Running: 3, StartedAt: now,
		Providers: []string{"openai", "sim"}})
	body = get()
	require.Equal(t, "ok", body["status"])
	w := body["workers"].(map[string]any)
	require.Equal(t, 1.0, w["count"])
	require.Equal(t, 3.0, w["running_tasks"])
	require.Equal(t, "host-a", w["list"].([]any)[0].(map[string]any)["hostname"])
	require.Equal(t, "closed", body["providers"].(map[string]any)["openai"].(map[string]any)["circuit"])
}

func TestWorkers(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	w := &health.Workers{Now: func() time.Time { return now }}
	require.Equal(t, 0, w.Status().Count)
	require.Empty(t, w.Providers())

	w.Observe(health.Heartbeat{ID: "b", Hostname: "h2", Concurrency: 8, Running: 2, Providers: []string{"openai", "anthropic"},
		Circuits: []health.Circuit{{Provider: "openai", Model: "gpt-4o", State: "half_open"}}})
	w.Observe(health.Heartbeat{ID: "a", Hostname: "h1", Concurrency: 4, Running: 1, Providers: []string{"openai"},
		Circuits: []health.Circuit{{Provider: "openai", Model: "gpt-4o", State: "open"}, {Provider: "openai", Model: "gpt-4o-mini", State: "closed"}}})
	w.Observe(health.Heartbeat{Hostname: "no id"}) // ignored
	st := w.Status()
	require.Equal(t, 2, st.Count)
	require.Equal(t, 3, st.RunningTasks)
	require.Equal(t, "a", st.List[0].ID, "by id")
	require.Equal(t, "b", st.List[1].ID)
	require.Equal(t, now, st.List[0].LastSeen)
	providers := w.Providers()
	require.Equal(t, health.ProviderStatus{Status: "degraded", Circuit: "open",
		Models: map[string]string{"gpt-4o": "open", "gpt-4o-mini": "closed"}}, providers["openai"], "the most open circuit of any worker")
	require.Equal(t, health.ProviderStatus{Status: "ok", Circuit: "closed", Models: map[string]string{}}, providers["anthropic"])

	// A heartbeat replaces the worker's last one.
	w.Observe(health.Heartbeat{ID: "a", Hostname: "h1", Concurrency: 4, Running: 0, Providers: []string{"openai"}})
	require.Equal(t, 2, w.Status().RunningTasks)
	require.Equal(t, "half_open", w.Providers()["openai"].Circuit)

	// A worker not heard of for more than the TTL is forgotten.
	now = now.Add(20 * time.Second)
	w.Observe(health.Heartbeat{ID: "a", Hostname: "h1", Concurrency: 4, Running: 5})
	now = now.Add(health.WorkerTTL - 10*time.Second + time.Millisecond)
	st = w.Status()
	require.Equal(t, 1, st.Count, "b's last heartbeat is older than the TTL")
	require.Equal(t, "a", st.List[0].ID)
	require.Equal(t, 5, st.RunningTasks)
	require.NotContains(t, w.Providers(), "anthropic", "only b called it")

	// A stopping worker is forgotten at once.
	w.Observe(health.Heartbeat{ID: "a", Stopping: true})
	require.Equal(t, 0, w.Status().Count)

	// A heartbeat survives its JSON round trip.
	hb := health.Heartbeat{ID: "x", Hostname: "h", Concurrency: 2, Running: 1, StartedAt: now,
		Providers: []string{"sim"}, Circuits: []health.Circuit{{Provider: "sim", Model: "sim-1", State: "closed"}}}
	data, err := json.Marshal(hb)
	require.NoError(t, err)
	require.Contains(t, string(data), `"running_tasks":1`)
	require.Contains(t, string(data), `{"provider":"sim","model":"sim-1","state":"closed"}`)
	var back health.Heartbeat
	require.NoError(t, json.Unmarshal(data, &back))
	require.Equal(t, hb, back)
}

// A check that ignores its context still answers within the timeout, as down.
func TestRunBoundsChecks(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	defer close(block)
	start := time.Now()
	res, down := health.Run(context.Background(), map[string]health.Check{
		"redis":    func(context.Context) error { <-block; return nil },
		"nats":     func(context.Context) error { return errors.New("not connected") },
		"database": func(context.Context) error { return nil },
	}, 100*time.Millisecond)
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, []string{"nats", "redis"}, down)
	require.Equal(t, "ok", res["database"].Status)
	require.Equal(t, "down", res["redis"].Status)
	require.Equal(t, context.DeadlineExceeded.Error(), res["redis"].Error)

	data, err := json.Marshal(res["nats"])
	require.NoError(t, err)
	require.JSONEq(t, `{"status":"down","latency_ms":0,"error":"not connected"}`, string(data))
}

// /health/ready answers 503 naming what is down, and 200 once it is back.
func TestReady(t *testing.T) {
	t.Parallel()
	var redisDown atomic.Bool
	mux := http.NewServeMux()
	health.Register(mux, map[string]health.Check{
		"database": func(context.Context) error { return nil },
		"redis": func(context.Context) error {
			if redisDown.Load() {
				return errors.New("connection refused")
			}
			return nil
		},
	})
	get := func() (int, map[string]any) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/health/ready", nil))
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		return rec.Code, body
	}
	code, _ := get()
	require.Equal(t, http.StatusOK, code)
	redisDown.Store(true)
	code, body := get()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "down: redis", body["detail"])
	redisDown.Store(false)
	code, _ = get()
	require.Equal(t, http.StatusOK, code)
}

// "caches" lists every named cache with its own figures, beside the older "cache"; a report
// without Caches has no "caches".
func TestDetailedCaches(t *testing.T) {
	t.Parallel()
	get := func(d health.Detailed) map[string]any {
		rec := httptest.NewRecorder()
		health.DetailedHandler(nil, d).ServeHTTP(rec, httptest.NewRequest("GET", "/health/detailed", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		return body
	}
	body := get(health.Detailed{
		Cache: func() health.CacheStatus { return health.NewCacheStatus(3, 4, 0) },
		Caches: func() map[string]health.CacheStatus {
			return map[string]health.CacheStatus{
				"api_keys": health.NewCacheStatus(3, 4, 0),
				"tasks":    health.NewCacheStatus(1, 5, 2),
				"empty":    health.NewCacheStatus(0, 0, 0),
			}
		},
	})
	require.Equal(t, map[string]any{"hits": 3.0, "lookups": 4.0, "hit_rate": 0.75}, body["cache"])
	require.Equal(t, map[string]any{
		"api_keys": map[string]any{"hits": 3.0, "lookups": 4.0, "hit_rate": 0.75},
		"tasks":    map[string]any{"hits": 1.0, "lookups": 5.0, "hit_rate": 0.2, "errors": 2.0},
		"empty":    map[string]any{"hits": 0.0, "lookups": 0.0, "hit_rate": 0.0},
	}, body["caches"])
	require.Equal(t, "ok", body["status"], "cache figures do not change the status")

	require.NotContains(t, get(health.Detailed{}), "caches")
}
