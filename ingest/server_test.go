package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/store"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for name, mutate := range map[string]func(*ingest.Config){
		"no store":        func(c *ingest.Config) { c.Store = nil },
		"no agents":       func(c *ingest.Config) { c.Agents = nil },
		"no enqueue":      func(c *ingest.Config) { c.Enqueue = nil },
		"no events":       func(c *ingest.Config) { c.Events = nil },
		"no notifier":     func(c *ingest.Config) { c.Notifier = nil },
		"no admin token":  func(c *ingest.Config) { c.AdminToken = "" },
		"negative max":    func(c *ingest.Config) { c.MaxAttempts = -1 },
		"local ttl > 1s":  func(c *ingest.Config) { c.LocalKeyTTL = 2 * time.Second },
		"nil ready check": func(c *ingest.Config) { c.ReadyChecks = map[string]func(context.Context) error{"x": nil} },
	} {
		cfg := e.cfg
		mutate(&cfg)
		_, err := ingest.New(cfg)
		require.Error(t, err, name)
	}
	// Defaults fill the rest.
	cfg := e.cfg
	cfg.Logger, cfg.Now, cfg.MaxAttempts, cfg.KeyCache, cfg.ReadyChecks = nil, nil, 0, nil, nil
	_, err := ingest.New(cfg)
	require.NoError(t, err)
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{"/health", "/health/live"} {
		r := e.do(t, req{method: "GET", path: path})
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, "application/json", r.header.Get("Content-Type"))
		require.JSONEq(t, `{"status":"ok"}`, string(r.body))
	}
	r := e.do(t, req{method: "GET", path: "/health/ready"})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var ready struct {
		Status string
		Checks map[string]struct {
			Status    string
			LatencyMS int64 `json:"latency_ms"`
		}
	}
	r.decode(t, &ready)
	require.Equal(t, "ok", ready.Status)
	require.Equal(t, "ok", ready.Checks["database"].Status)
	require.Equal(t, "ok", ready.Checks["redis"].Status)
}

func TestReadyNamesWhatIsDown(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	e := newEnv(t, func(c *ingest.Config) {
		c.ReadyChecks = map[string]func(context.Context) error{
			"database": c.Store.Ping,
			"nats":     func(context.Context) error { return errors.New("nats: connection refused at 10.1.2.3") },
			"redis":    func(context.Context) error { <-hang; return nil }, // ignores its context
		}
	})
	start := time.Now()
	r := e.do(t, req{method: "GET", path: "/health/ready"})
	elapsed := time.Since(start)
	p := r.problem(t, http.StatusServiceUnavailable, "not_ready")
	require.Equal(t, "5", r.header.Get("Retry-After"))
	require.Contains(t, p.Detail, "nats")
	require.Contains(t, p.Detail, "redis")
	require.NotContains(t, p.Detail, "database")
	require.NotContains(t, string(r.body), "10.1.2.3", "check errors are logged, not sent")
	require.Contains(t, e.logs.String(), "10.1.2.3")
	var body struct {
		Checks map[string]struct{ Status string }
	}
	r.decode(t, &body)
	require.Equal(t, "ok", body.Checks["database"].Status)
	require.Equal(t, "down", body.Checks["nats"].Status)
	require.Equal(t, "down", body.Checks["redis"].Status)
	// Concurrent, each bounded by 2 s.
	require.GreaterOrEqual(t, elapsed, 2*time.Second)
	require.Less(t, elapsed, 4*time.Second)
}

func TestUnknownRouteAndWrongMethod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)

	p := e.do(t, req{method: "GET", path: "/nope", token: key}).problem(t, http.StatusNotFound, "not_found")
	require.Contains(t, p.Detail, "/nope")
	e.do(t, req{method: "GET", path: "/v1/tasks/x/y/z", token: key}).problem(t, http.StatusNotFound, "not_found")

	r := e.do(t, req{method: "DELETE", path: "/v1/tasks", token: key})
	r.problem(t, http.StatusMethodNotAllowed, "method_not_allowed")
	allow := strings.Split(r.header.Get("Allow"), ", ")
	require.Contains(t, allow, "GET")
	require.Contains(t, allow, "POST")
	r = e.do(t, req{method: "PUT", path: "/v1/admin/tenants/ten_x", token: adminToken, body: `{}`})
	r.problem(t, http.StatusMethodNotAllowed, "method_not_allowed")
	require.Contains(t, r.header.Get("Allow"), "PATCH")
	require.Contains(t, e.logs.String(), `"route":"unmatched"`)
}

// faultyStore is the real store with one method replaced, to drive the paths that only an
// engine failure reaches.
type faultyStore struct {
	store.Store
	listDeliveries func() ([]*store.Delivery, error)
}

func (f faultyStore) ListDeliveries(context.Context, string, string) ([]*store.Delivery, error) {
	return f.listDeliveries()
}

func TestInternalErrorsAreLoggedNotSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *ingest.Config) {
		c.Store = faultyStore{Store: c.Store, listDeliveries: func() ([]*store.Delivery, error) {
			return nil, errors.New("pq: password authentication failed for user secret_user")
		}}
	})
	_, key := e.tenant(t)
	r := e.do(t, req{method: "GET", path: "/v1/tasks/tsk_x/deliveries", token: key})
	p := r.problem(t, http.StatusInternalServerError, "internal")
	require.NotContains(t, string(r.body), "secret_user")
	require.NotContains(t, p.Detail, "pq")
	require.Contains(t, e.logs.String(), "secret_user")
}

func TestPanicsBecomeProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *ingest.Config) {
		c.Store = faultyStore{Store: c.Store, listDeliveries: func() ([]*store.Delivery, error) {
			panic("kaboom")
		}}
	})
	_, key := e.tenant(t)
	r := e.do(t, req{method: "GET", path: "/v1/tasks/tsk_x/deliveries", token: key})
	r.problem(t, http.StatusInternalServerError, "internal")
	require.NotContains(t, string(r.body), "kaboom")
	logs := e.logs.String()
	require.Contains(t, logs, "kaboom")
	require.Contains(t, logs, "panic serving request")
	// The server still serves.
	require.Equal(t, http.StatusOK, e.do(t, req{method: "GET", path: "/health"}).status)
}

func TestRequestLogNeverHoldsCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	e.submit(t, key, echoTask)
	e.do(t, req{method: "GET", path: "/v1/tasks", token: key + "x"})
	e.do(t, req{method: "GET", path: "/v1/admin/tenants/ten_x", token: "wrong-admin-token"})

	logs := e.logs.String()
	require.NotContains(t, logs, key)
	require.NotContains(t, logs, key[3:20])
	require.NotContains(t, logs, adminToken)
	require.NotContains(t, logs, "wrong-admin-token")
	require.NotContains(t, logs, "whsec_")
	require.NotContains(t, logs, "Bearer")

	// One line per request: method, route pattern, status, duration.
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec["msg"] == "http request" && rec["route"] == "POST /v1/tasks" {
			found = true
			require.Equal(t, "POST", rec["method"])
			require.EqualValues(t, 202, rec["status"])
			require.Contains(t, rec, "duration")
		}
	}
	require.True(t, found, logs)
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(t, req{method: "GET", path: "/openapi.json"})
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.decode(t, &doc)
	require.Equal(t, "3.1.0", doc.OpenAPI)

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	registered := map[string]bool{}
	for _, route := range e.srv.Routes() {
		registered[route] = true
		require.True(t, documented[route], "route %q is not in openapi.json", route)
	}
	for op := range documented {
		require.True(t, registered[op], "openapi.json documents %q, which the server does not serve", op)
	}

	// Every problem code the server can answer is in the document's enum.
	var full struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct {
							Enum []string `json:"enum"`
						} `json:"code"`
					} `json:"properties"`
				} `json:"Problem"`
			} `json:"schemas"`
		} `json:"components"`
	}
	r.decode(t, &full)
	for _, code := range ingest.ProblemCodes() {
		require.True(t, slices.Contains(full.Components.Schemas.Problem.Properties.Code.Enum, code), code)
	}
}
