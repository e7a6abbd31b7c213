package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/health"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/outbox"
	"github.com/agentic-run/agentic/schedule"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/webhook"
)

// Version is the build's version, set with -ldflags.
var Version = "dev"

// RunIngest serves the HTTP API on c.HTTPAddr until ctx ends, then shuts down gracefully.
// listening, if not nil, is told the bound address.
func RunIngest(ctx context.Context, c Config, e *Engines, log *slog.Logger, listening func(addr string)) error {
	if err := c.Require("AGENTIC_ADMIN_TOKEN"); err != nil {
		return err
	}
	catalog, err := agents.Builtin()
	if err != nil {
		return err
	}
	policy, err := webhook.ParsePolicy(c.WebhookAllow)
	if err != nil {
		return fmt.Errorf("AGENTIC_WEBHOOK_ALLOW: %w", err)
	}
	pub := events.NewPublisher(e.JS, e.Names, events.WithTracerProvider(c.Tracer))
	relay := outbox.NewRelay(e.Store, pub, log, nil)
	if err := relay.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = relay.Stop(context.WithoutCancel(ctx)) }()
	notifier, err := events.NewNotifier(e.NC, e.Names)
	if err != nil {
		return err
	}
	defer func() { _ = notifier.Close() }()
	invalidations, err := events.NewInvalidations(e.NC, e.Names)
	if err != nil {
		return err
	}
	defer func() { _ = invalidations.Close() }()
	// The API-key and terminal-task cache (nil without one: see SharedCache).
	keyCache := e.SharedCache(c)
	checks := map[string]func(context.Context) error{}
	for name, check := range e.Checks() {
		checks[name] = check
	}
	window, err := rateWindow(e, c, log)
	if err != nil {
		return err
	}
	metrics, outages, err := e.Observability(log)
	if err != nil {
		return err
	}
	caches, err := e.Caches(log)
	if err != nil {
		return err
	}
	workers, stopWorkers, err := collectWorkers(e.NC, e.Names.WorkerHeartbeatSubject(), log)
	if err != nil {
		return err
	}
	defer stopWorkers()
	srv, err := ingest.New(ingest.Config{
		Store:    e.Store,
		Agents:   catalog,
		Webhooks: policy,
		Enqueue:  relay.Enqueue,
		EnqueueContext: func(ctx context.Context, t *store.Task) {
			// The relay publishes on this goroutine: the request's span is the publish's parent.
			pub.WithParent(ctx, t.ID, func() { relay.Enqueue(t) })
		},
		Events:        pub,
		Notifier:      notifier,
		Invalidations: invalidations,
		RateLimits: ingest.RateLimits{Window: window, Tiers: c.Tiers,
			RequestsFailOpen: c.FailOpen["requests"], ExecutionsFailOpen: c.FailOpen["executions"]},
		Budgets:     ingest.Budgets{Ledger: e.BudgetLedger(c.Prefix), FailOpen: c.FailOpen["budgets"]},
		KeyCache:    keyCache,
		TaskCache:   keyCache, // the same cache, under the tenant's keys: terminal tasks
		Caches:      caches,
		AdminToken:  c.AdminToken,
		MaxAttempts: c.MaxAttempts,
		ReadyChecks: checks,
		Version:     Version,
		Logger:      log,
		Outages:     outages,
		Metrics:     metrics.Handler(),
		Meter:       metrics.Meter("github.com/agentic-run/agentic/ingest"),
		Tracer:      c.Tracer,
		Detailed: &health.Detailed{Version: Version, Probes: e.Probes(),
			Workers: workers.Status, Providers: workers.Providers},
	})
	if err != nil {
		return err
	}
	ln := e.HTTPListener
	if ln == nil {
		if ln, err = net.Listen("tcp", c.HTTPAddr); err != nil {
			return fmt.Errorf("AGENTIC_HTTP_ADDR: %w", err)
		}
	}
	return serve(ctx, ln, withPprof(c, srv.Handler()), log, listening)
}

// responseCacheEntries bounds an in-process LLM response cache: answers are up to a few
// kilobytes each.
const responseCacheEntries = 2_000

// RunWorker consumes tasks, webhook events and ops jobs until ctx ends, then drains: it
// stops pulling, lets in-flight work finish within the drain timeout and gives the rest back.
func RunWorker(ctx context.Context, c Config, e *Engines, log *slog.Logger, listening func(addr string)) error {
	catalog, err := agents.Builtin()
	if err != nil {
		return err
	}
	policy, err := webhook.ParsePolicy(c.WebhookAllow)
	if err != nil {
		return fmt.Errorf("AGENTIC_WEBHOOK_ALLOW: %w", err)
	}
	pub := events.NewPublisher(e.JS, e.Names, events.WithTracerProvider(c.Tracer))
	cancels, err := events.NewCancels(e.NC, e.Names)
	if err != nil {
		return err
	}
	defer func() { _ = cancels.Close() }()

	var sem limits.Semaphore = limits.NewMemorySemaphore(nil)
	if e.Redis != nil {
		sem = limits.NewRedisSemaphore(e.Redis, c.Prefix)
	}
	tenants := &handlers.TenantCache{Store: e.Store} // tiers and budgets, for the limits
	metrics, outages, err := e.Observability(log)
	if err != nil {
		return err
	}
	caches, err := e.Caches(log)
	if err != nil {
		return err
	}
	router, caller, providerNames, err := modelCalls(c, log, metrics.Meter("github.com/agentic-run/agentic/llm"))
	if err != nil {
		return err
	}
	slots := &handlers.Slots{Semaphore: sem, Tiers: c.Tiers, Tenants: tenants, Lease: c.AckWait,
		FailOpen: c.FailOpen["concurrency"], Outages: outages}
	budgets := &handlers.Budgets{Ledger: e.BudgetLedger(c.Prefix), Tenants: tenants, Usage: e.Store,
		FailOpen: c.FailOpen["budgets"], Outages: outages, Logger: log}
	// The LLM response cache: the shared one; in a replica with a database but no Redis, its
	// own (an answer never goes stale, so a cache per replica is only a smaller one).
	responseCache := e.SharedCache(c)
	if responseCache == nil {
		responseCache = cache.NewMemory(responseCacheEntries, nil)
	}
	responses, err := caches.Instrument(responseCache, handlers.ResponseCacheName)
	if err != nil {
		return err
	}
	tasks, err := handlers.NewTasks(handlers.TasksConfig{
		Budgets:   budgets,
		Store:     e.Store,
		Events:    pub,
		Cancels:   cancels,
		Agents:    catalog,
		Router:    router,
		Caller:    caller,
		Responses: responses,
		Lease:     c.AckWait,
		Logger:    log,
		Meter:     metrics.Meter("github.com/agentic-run/agentic/handlers"),
		Tracer:    c.Tracer,
	})
	if err != nil {
		return err
	}
	hooks, err := handlers.NewWebhooks(handlers.WebhooksConfig{
		Store: e.Store,
		// Keep as many connections to a receiver as deliveries may run at once, so that a busy
		// receiver is not redialled for every event.
		Sender:      webhook.NewSenderOpts(policy, &webhook.SenderOpts{MaxIdleConnsPerHost: c.Concurrency}),
		GiveUpAfter: c.WebhookGiveUp,
		Tenants:     tenants,
		Logger:      log,
		Meter:       metrics.Meter("github.com/agentic-run/agentic/handlers"),
		Tracer:      c.Tracer,
	})
	if err != nil {
		return err
	}
	invalidations, err := events.NewInvalidations(e.NC, e.Names)
	if err != nil {
		return err
	}
	defer func() { _ = invalidations.Close() }()
	invalidations.On(events.InvalidateTenant, tenants.Forget)
	backups, err := newBackups(ctx, c, e.Store, metrics.Meter("github.com/agentic-run/agentic/handlers"), log)
	if err != nil {
		return err
	}
	ops, err := handlers.NewOps(handlers.OpsConfig{Store: e.Store, Publisher: pub, Grace: c.ReconcileGrace,
		Backups: backups, Cache: e.SharedCache(c), Logger: log})
	if err != nil {
		return err
	}

	var running atomic.Int64 // tasks being handled, for the heartbeats
	backlog, err := observeBacklog(metrics.Meter("github.com/agentic-run/agentic/events"), e.JS, e.Names, log)
	if err != nil {
		return err
	}
	defer func() { _ = backlog.Unregister() }()

	var runners []*events.Runner
	for _, r := range []struct {
		queue string
		cfg   events.RunnerConfig
		h     events.Handler
	}{
		// Tasks: one consumer per tenant, dispatched fairly by tier within each tenant's
		// concurrency slots.
		{"tasks", events.RunnerConfig{Concurrency: c.Concurrency, Fair: &events.FairConfig{
			Names: e.Names, Share: slots.Share, Admit: slots, AckWait: c.AckWait,
		}}, func(ctx context.Context, m *events.Msg) error {
			running.Add(1)
			defer running.Add(-1)
			return tasks.Handle(ctx, m)
		}},
		{"webhooks", events.RunnerConfig{Stream: e.Names.EventsStream(), Consumer: events.ConsumerWebhooks, Concurrency: 2 * c.Concurrency}, hooks.Handle},
	} {
		if !c.Queues[r.queue] {
			continue
		}
		r.cfg.DrainTimeout = c.DrainTimeout
		r.cfg.Tracer = c.Tracer
		name := r.cfg.Consumer
		if r.cfg.Fair != nil {
			name = "tasks"
		}
		r.cfg.Logger = log.With("consumer", name)
		runner, err := events.NewRunner(e.JS, r.cfg, r.h)
		if err != nil {
			return err
		}
		if err := runner.Start(ctx); err != nil {
			return err
		}
		runners = append(runners, runner)
	}
	// The scheduler's jobs, through the Watermill router: one consumer per type of event.
	stops := make([]func(context.Context) error, 0, len(runners)+1)
	for _, r := range runners {
		stops = append(stops, r.Stop)
	}
	if c.Queues["ops"] {
		opsRouter, err := events.NewOpsRouter(e.JS, pub, events.OpsRouterConfig{Names: e.Names, AckWait: c.AckWait,
			DrainTimeout: c.DrainTimeout, Handlers: ops.Handlers(), Tracer: c.Tracer, Logger: log.With("consumer", "ops")})
		if err != nil {
			return err
		}
		if err := opsRouter.Start(ctx); err != nil {
			return err
		}
		stops = append(stops, opsRouter.Stop)
	}
	log.Info("worker started", "concurrency", c.Concurrency, "queues", c.Queues, "backups", backups != nil)

	circuits := func() []health.Circuit {
		var circuits []health.Circuit
		for _, b := range caller.States() {
			circuits = append(circuits, health.Circuit{Provider: b.Provider, Model: b.Model, State: b.State})
		}
		return circuits
	}
	workerID, hostname := newWorkerID()
	startedAt := time.Now().UTC()
	hbCtx, stopHeartbeats := context.WithCancel(ctx)
	announced := make(chan struct{})
	go func() {
		defer close(announced)
		announceWorker(hbCtx, e.NC, e.Names.WorkerHeartbeatSubject(), log, func() health.Heartbeat {
			return health.Heartbeat{ID: workerID, Hostname: hostname, Version: Version, Concurrency: c.Concurrency,
				Running: int(running.Load()), StartedAt: startedAt, Providers: providerNames, Circuits: circuits()}
		})
	}()
	err = serveHealth(ctx, c, e, log, listening, health.Detailed{Version: Version, AdminToken: c.AdminToken,
		Providers: func() map[string]health.ProviderStatus { return health.Circuits(providerNames, circuits()) },
		Caches:    health.CacheStatuses(caches.Lookups)})
	stopHeartbeats()
	<-announced
	// Drain: stop all consumers at once; each waits for its own in-flight handlers.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.DrainTimeout+30*time.Second)
	defer cancel()
	errs := make(chan error, len(stops))
	for _, stop := range stops {
		go func() { errs <- stop(stopCtx) }()
	}
	for range stops {
		err = errors.Join(err, <-errs)
	}
	log.Info("worker stopped")
	return err
}

// RunScheduler fires the periodic jobs until ctx ends.
func RunScheduler(ctx context.Context, c Config, e *Engines, log *slog.Logger, listening func(addr string)) error {
	state, err := events.NewScheduleState(ctx, e.JS, e.Names)
	if err != nil {
		return err
	}
	jobs := []schedule.Job{{Name: "reconcile", Event: events.OpsReconcile, Spec: c.ReconcileSchedule}}
	if c.BackupSchedule != ScheduleOff {
		jobs = append(jobs, schedule.Job{Name: "backup", Event: events.OpsBackupRequested, Spec: c.BackupSchedule})
	}
	if c.CacheSweepSchedule != ScheduleOff {
		jobs = append(jobs, schedule.Job{Name: "cache-sweep", Event: events.OpsCacheInvalidate, Spec: c.CacheSweepSchedule})
	}
	s, err := schedule.New(schedule.Config{
		Jobs:      jobs,
		Publisher: events.NewPublisher(e.JS, e.Names, events.WithTracerProvider(c.Tracer)).Watermill(),
		State:     state,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	log.Info("scheduler started", "reconcile", c.ReconcileSchedule, "backup", c.BackupSchedule, "cache_sweep", c.CacheSweepSchedule)
	err = serveHealth(ctx, c, e, log, listening, health.Detailed{Version: Version, AdminToken: c.AdminToken})
	return errors.Join(err, s.Stop(context.WithoutCancel(ctx)))
}

// serveHealth serves the health endpoints and /metrics on c.MetricsAddr until ctx ends;
// without an address it only waits for ctx.
func serveHealth(ctx context.Context, c Config, e *Engines, log *slog.Logger, listening func(string), detailed health.Detailed) error {
	if c.MetricsAddr == "" {
		<-ctx.Done()
		return nil
	}
	metrics, _, err := e.Observability(log)
	if err != nil {
		return err
	}
	if detailed.Probes == nil {
		detailed.Probes = e.Probes()
	}
	mux := http.NewServeMux()
	health.Register(mux, e.Checks())
	health.RegisterDetailed(mux, e.Checks(), detailed)
	mux.Handle("GET /metrics", metrics.Handler())
	h := withPprof(c, mux)
	ln, err := net.Listen("tcp", c.MetricsAddr)
	if err != nil {
		return fmt.Errorf("AGENTIC_METRICS_ADDR: %w", err)
	}
	return serve(ctx, ln, h, log, listening)
}

// serve runs an HTTP server until ctx ends, then shuts it down within 10 seconds.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, listening func(string)) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Info("listening", "addr", ln.Addr().String())
	if listening != nil {
		listening(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// withPprof serves the Go profiler under /debug/pprof/ in front of h when AGENTIC_PPROF is on.
func withPprof(c Config, h http.Handler) http.Handler {
	if !c.Pprof {
		return h
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.Handle("/", h)
	return mux
}

// rateWindow is the rate limiter: on Redis, exact across replicas; without REDIS_URL, in
// process — right for agentic dev, per replica otherwise (said once at start).
func rateWindow(e *Engines, c Config, log *slog.Logger) (limits.Window, error) {
	if e.Redis != nil {
		return limits.NewRedisWindow(e.Redis, c.Prefix), nil
	}
	if c.DatabaseURL != "" { // not agentic dev on SQLite: replicas are likely
		log.Warn("REDIS_URL is not set: rate limits are kept per process, not across replicas")
	}
	return limits.NewMemoryWindow(nil), nil
}
