package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/internal/syncbuf"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
	"github.com/agentic-run/agentic/webhook"
)

const adminToken = "test-admin-token-0123456789"

// env is one ingest server on real engines: a fresh Postgres schema, a NATS prefix with its
// streams, a Redis key prefix.
type env struct {
	t       testing.TB
	store   *postgres.Store
	js      jetstream.JetStream
	nc      *nats.Conn
	names   events.Names
	pub     *events.Publisher
	redis   *redis.Client
	cache   *cache.Redis
	catalog *agents.Catalog
	cfg     ingest.Config
	srv     *ingest.Server
	http    *httptest.Server
	logs    *syncbuf.Buffer
	watches chan string // task ids passed to Notifier.Watch
}

// watchSpy reports each Watch call, so a test knows a long-poll is waiting.
type watchSpy struct {
	inner ingest.TaskWatcher
	calls chan string
}

func (w watchSpy) Watch(id string) (<-chan string, func()) {
	ch, stop := w.inner.Watch(id)
	select {
	case w.calls <- id:
	default:
	}
	return ch, stop
}

func newEnv(t testing.TB, opts ...func(*ingest.Config)) *env {
	t.Helper()
	e := &env{t: t, logs: &syncbuf.Buffer{}, watches: make(chan string, 64)}
	e.store = pgtest.New(t)
	e.js, e.names = natstest.Setup(t, nil)
	e.nc = e.js.Conn()
	e.pub = events.NewPublisher(e.js, e.names)
	notifier, err := events.NewNotifier(e.nc, e.names)
	require.NoError(t, err)
	t.Cleanup(func() { _ = notifier.Close() })
	var prefix string
	e.redis, prefix = redistest.Client(t)
	e.cache = cache.NewRedis(e.redis, prefix)
	e.catalog, err = agents.Builtin()
	require.NoError(t, err)

	e.cfg = ingest.Config{
		Store:    e.store,
		Agents:   e.catalog,
		Webhooks: webhook.Policy{},
		Enqueue: func(task *store.Task) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := e.pub.PublishTask(ctx, task); err != nil {
				t.Errorf("enqueue %s: %v", task.ID, err)
			}
		},
		Events:     e.pub,
		Notifier:   watchSpy{inner: notifier, calls: e.watches},
		KeyCache:   e.cache,
		AdminToken: adminToken,
		ReadyChecks: map[string]func(context.Context) error{
			"database": e.store.Ping,
			"redis":    e.cache.Ping,
		},
		Version: "test",
		Logger:  slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&e.cfg)
	}
	e.srv, err = ingest.New(e.cfg)
	require.NoError(t, err)
	e.http = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.http.Close)
	return e
}

// replica starts a second server on the same engines, as another replica would be.
func (e *env) replica() *httptest.Server {
	e.t.Helper()
	srv, err := ingest.New(e.cfg)
	require.NoError(e.t, err)
	hs := httptest.NewServer(srv.Handler())
	e.t.Cleanup(hs.Close)
	return hs
}

// reply is a received response with its body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r *reply) decode(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

func (r *reply) task(t testing.TB) client.Task {
	t.Helper()
	var task client.Task
	r.decode(t, &task)
	return task
}

// problem checks the reply is a problem with that status and code, and returns it.
func (r *reply) problem(t testing.TB, status int, code string) client.Problem {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	var p client.Problem
	r.decode(t, &p)
	require.Equal(t, code, p.Code, "body: %s", r.body)
	require.Equal(t, status, p.Status)
	require.Equal(t, "https://agentic.dev/problems/"+code, p.Type)
	require.NotEmpty(t, p.Title)
	return p
}

// req describes a request; body is JSON-encoded unless it is a string or []byte.
type req struct {
	method, path, token string
	body                any
	header              map[string]string
	base                string // another replica's URL
}

func (e *env) do(t testing.TB, rq req) *reply {
	t.Helper()
	var rd io.Reader
	contentType := ""
	switch b := rq.body.(type) {
	case nil:
	case string:
		rd, contentType = strings.NewReader(b), "application/json"
	case []byte:
		rd, contentType = bytes.NewReader(b), "application/json"
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd, contentType = bytes.NewReader(raw), "application/json"
	}
	base := rq.base
	if base == "" {
		base = e.http.URL
	}
	hr, err := http.NewRequest(rq.method, base+rq.path, rd)
	require.NoError(t, err)
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	if rq.token != "" {
		hr.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.header {
		if v == "<unset>" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return &reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// tenant creates a tenant and an API key through the admin API.
func (e *env) tenant(t testing.TB) (tenantID, key string) {
	t.Helper()
	r := e.do(t, req{method: "POST", path: "/v1/admin/tenants", token: adminToken,
		body: map[string]any{"name": "acme", "tier": "pro"}})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var ten client.Tenant
	r.decode(t, &ten)
	r = e.do(t, req{method: "POST", path: "/v1/admin/tenants/" + ten.ID + "/api-keys", token: adminToken,
		body: map[string]any{"name": "ci"}})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var k client.APIKey
	r.decode(t, &k)
	return ten.ID, k.Key
}

// submit posts a task and requires 202.
func (e *env) submit(t testing.TB, key string, body any) client.Task {
	t.Helper()
	r := e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: body})
	require.Equal(t, http.StatusAccepted, r.status, "body: %s", r.body)
	return r.task(t)
}

// finish runs a task to a terminal state in the store and publishes its event, as a worker
// would.
func (e *env) finish(t testing.TB, id string, status store.Status) *store.Task {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	_, err := e.store.StartTask(ctx, id, now, now.Add(time.Minute))
	require.NoError(t, err)
	res := store.Result{Status: status, FinishedAt: time.Now(), Model: "sim", Provider: "sim"}
	if status == store.StatusSucceeded {
		res.Output = json.RawMessage(`{"ok":true}`)
	} else {
		res.Error = &store.TaskError{Code: "boom", Message: "it broke"}
	}
	task, applied, err := e.store.FinishTask(ctx, id, res)
	require.NoError(t, err)
	require.True(t, applied)
	require.NoError(t, e.pub.PublishEvent(ctx, events.TerminalEvent(task)))
	return task
}

// finish2 is finish for a task already started.
func (e *env) finish2(t testing.TB, id string, status store.Status) {
	t.Helper()
	ctx := context.Background()
	task, applied, err := e.store.FinishTask(ctx, id, store.Result{Status: status, FinishedAt: time.Now(), Output: json.RawMessage(`{"ok":true}`)})
	require.NoError(t, err)
	require.True(t, applied)
	require.NoError(t, e.pub.PublishEvent(ctx, events.TerminalEvent(task)))
}

// awaitWatch waits until a handler watches the task.
func (e *env) awaitWatch(t testing.TB, id string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-e.watches:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("nobody watched %s", id)
		}
	}
}

var echoTask = map[string]any{"agent": "echo", "input": map[string]any{"text": "hi"}}
