package handlers_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(natstest.Main(m)) }

// harness is one test's engines: a fresh Postgres schema, a fresh NATS prefix, one tenant.
type harness struct {
	t      testing.TB
	pool   *pgxpool.Pool
	store  *postgres.Store
	js     jetstream.JetStream
	names  events.Names
	pub    *events.Publisher
	tenant *store.Tenant
	agents *agents.Catalog
	ack    time.Duration // the consumers' AckWait
}

func newHarness(t testing.TB, ackWait time.Duration) *harness {
	t.Helper()
	pool := pgtest.Pool(t)
	js, names := natstest.Setup(t, &events.SetupOpts{AckWait: ackWait})
	catalog, err := agents.Builtin()
	require.NoError(t, err)
	h := &harness{t: t, pool: pool, store: postgres.New(pool), js: js, names: names,
		pub: events.NewPublisher(js, names), agents: catalog, ack: ackWait}
	h.tenant = &store.Tenant{ID: store.NewID("ten"), Name: "acme", Tier: "pro",
		WebhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedAt: time.Now()}
	require.NoError(t, h.store.CreateTenant(context.Background(), h.tenant))
	return h
}

// tasksConfig is a worker's configuration on this harness with the sim provider.
func (h *harness) tasksConfig(sim llm.SimConfig, lease time.Duration) handlers.TasksConfig {
	cfg := handlers.TasksConfig{
		Store: h.store, Events: h.pub, Agents: h.agents, Lease: lease,
		RetryDelay: func(int) time.Duration { return 20 * time.Millisecond },
	}
	h.serve(&cfg, llm.NewSim(sim), llm.Model{ID: "sim", Provider: "sim", ContextWindow: 128_000})
	return cfg
}

// serve makes p the one provider and m the one model of cfg, good enough for any task
// (quality 100), called once per attempt: the tests see each failure as the task's.
func (h *harness) serve(cfg *handlers.TasksConfig, p llm.Provider, m llm.Model) {
	h.t.Helper()
	m.Quality = 100
	reg, err := llm.NewRegistry([]llm.Model{m})
	require.NoError(h.t, err)
	caller, err := llm.NewCaller(llm.CallerConfig{Providers: map[string]llm.Provider{m.Provider: p}, MaxAttempts: 1})
	require.NoError(h.t, err)
	cfg.Router, cfg.Caller = &llm.Router{Registry: reg, Available: caller.Available}, caller
}

// run starts a Runner for handler on the named consumer; it is stopped at cleanup.
func (h *harness) run(stream, consumer string, drain time.Duration, handler events.Handler) *events.Runner {
	h.t.Helper()
	return h.start(events.RunnerConfig{Stream: stream, Consumer: consumer}, drain, handler)
}

// start starts a Runner with 8 handlers and quick heartbeats and backoff.
func (h *harness) start(cfg events.RunnerConfig, drain time.Duration, handler events.Handler) *events.Runner {
	h.t.Helper()
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	cfg.DrainTimeout, cfg.Heartbeat = drain, 200*time.Millisecond
	cfg.Backoff = func(uint64) time.Duration { return 20 * time.Millisecond }
	r, err := events.NewRunner(h.js, cfg, handler)
	require.NoError(h.t, err)
	require.NoError(h.t, r.Start(context.Background()))
	h.t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r
}

// runTasks starts a worker's task Runner: fair dispatch over the tenants' consumers, held to
// the tenants' concurrency by slots when given.
func (h *harness) runTasks(cfg handlers.TasksConfig, drain time.Duration, slots ...*handlers.Slots) *events.Runner {
	h.t.Helper()
	tasks, err := handlers.NewTasks(cfg)
	require.NoError(h.t, err)
	fair := &events.FairConfig{Names: h.names, AckWait: h.ack, Poll: 50 * time.Millisecond}
	for _, s := range slots {
		fair.Share, fair.Admit = s.Share, s
	}
	return h.start(events.RunnerConfig{Fair: fair}, drain, tasks.Handle)
}

// insert commits a task row the way ingest does, without publishing it.
func (h *harness) insert(agent string, input string, mutate ...func(*store.Task)) *store.Task {
	h.t.Helper()
	t := &store.Task{ID: store.NewID("tsk"), TenantID: h.tenant.ID, Agent: agent, Status: store.StatusQueued,
		Input: json.RawMessage(input), Quality: "standard", MaxAttempts: 3,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", CreatedAt: time.Now()}
	for _, m := range mutate {
		m(t)
	}
	got, existed, err := h.store.CreateTask(context.Background(), t)
	require.NoError(h.t, err)
	require.False(h.t, existed)
	return got
}

// submit inserts and publishes a task.
func (h *harness) submit(agent, input string, mutate ...func(*store.Task)) *store.Task {
	t := h.insert(agent, input, mutate...)
	require.NoError(h.t, h.pub.PublishTask(context.Background(), t))
	return t
}

// waitStatus polls the store until the task has the status, and returns it.
func (h *harness) waitStatus(id string, want store.Status, within time.Duration) *store.Task {
	h.t.Helper()
	var last *store.Task
	require.Eventually(h.t, func() bool {
		t, err := h.store.LoadTask(context.Background(), id)
		require.NoError(h.t, err)
		last = t
		return t.Status == want
	}, within, 10*time.Millisecond, "task %s never reached %s", id, want)
	return last
}

// count counts rows of a query.
func (h *harness) count(sql string, args ...any) int {
	h.t.Helper()
	var n int
	require.NoError(h.t, h.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// streamMessages returns the number of messages stored on a subject.
func (h *harness) streamMessages(stream, subject string) uint64 {
	h.t.Helper()
	s, err := h.js.Stream(context.Background(), stream)
	require.NoError(h.t, err)
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	require.NoError(h.t, err)
	return info.State.Subjects[subject]
}
