package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/health"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/telemetry"
)

// Engines are the connections one process holds.
type Engines struct {
	Store store.Store
	NC    *nats.Conn
	JS    jetstream.JetStream
	Redis *redis.Client // nil without REDIS_URL
	Names events.Names
	// HTTPListener, if set, is where ingest serves (agentic dev binds it first, so that a
	// port in use is reported before anything starts).
	HTTPListener net.Listener

	closers []func() // run in reverse order by Close

	// redisCheck pings Redis for the health checks: one connection, no retries, so that a
	// Redis that is down is reported at once rather than after the client's ~2 s of redials.
	redisCheck *redis.Client

	ledgerOnce sync.Once
	ledger     limits.Budget

	obsOnce sync.Once
	metrics *telemetry.Metrics
	outages *limits.Outages
	obsErr  error

	cachesOnce sync.Once
	caches     *cache.Registry
	sharedOnce sync.Once
	shared     cache.Cache
}

// Observability returns the metrics and the limit outages every role of this process
// shares, so that agentic dev's one /metrics shows them all.
func (e *Engines) Observability(log *slog.Logger) (*telemetry.Metrics, *limits.Outages, error) {
	e.obsOnce.Do(func() {
		e.outages = &limits.Outages{Logger: log}
		if e.metrics, e.obsErr = telemetry.NewMetrics(); e.obsErr == nil {
			e.obsErr = observeOutages(e.metrics.Meter("github.com/agentic-run/agentic/limits"), e.outages)
		}
	})
	return e.metrics, e.outages, e.obsErr
}

// observeOutages exports the outages' counts as agentic.limits.unavailable.
func observeOutages(m metric.Meter, o *limits.Outages) error {
	_, err := m.Int64ObservableCounter("agentic.limits.unavailable",
		metric.WithDescription("Limit decisions that could not be made because the limit's store was unavailable, "+
			"by limit and by how they failed (open: let through; closed: refused, or left queued)."),
		metric.WithInt64Callback(func(_ context.Context, obs metric.Int64Observer) error {
			o.Each(func(limit, failing string, n int64) {
				obs.Observe(n, metric.WithAttributes(attribute.String("limit", limit), attribute.String("failing", failing)))
			})
			return nil
		}))
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	return nil
}

// Caches returns the registry of the named caches every role of this process shares, counted
// on its metrics, so that agentic dev's one /health/detailed lists them all.
func (e *Engines) Caches(log *slog.Logger) (*cache.Registry, error) {
	metrics, _, err := e.Observability(log)
	if err != nil {
		return nil, err
	}
	e.cachesOnce.Do(func() { e.caches = cache.NewRegistry(metrics.Meter("github.com/agentic-run/agentic/cache")) })
	return e.caches, nil
}

// SharedCache is the cache every role of this process shares: Redis when there is one (shared
// by every replica too); in agentic dev (one process, SQLite) one in-process LRU, so that the
// worker's ops handler sweeps and invalidates what ingest and the worker cached. Replicas
// with a database but without Redis have none: an invalidation could not reach another
// replica's copy.
func (e *Engines) SharedCache(c Config) cache.Cache {
	e.sharedOnce.Do(func() {
		switch {
		case e.Redis != nil:
			e.shared = cache.NewRedis(e.Redis, c.Prefix)
		case c.DatabaseURL == "":
			e.shared = cache.NewMemory(cache.DefaultMemoryEntries, nil)
		}
	})
	return e.shared
}

// BudgetLedger is the budget ledger every role of this process shares: on Redis when there
// is one (shared by every replica too), else in process, so that agentic dev's ingest sees
// what its worker settles.
func (e *Engines) BudgetLedger(prefix string) limits.Budget {
	e.ledgerOnce.Do(func() {
		if e.Redis != nil {
			e.ledger = limits.NewRedisBudget(e.Redis, prefix)
		} else {
			e.ledger = limits.NewMemoryBudget(nil)
		}
	})
	return e.ledger
}

// Connect opens the database (migrating it unless AGENTIC_AUTO_MIGRATE=false), NATS (setting
// up the streams) and Redis when configured. Its errors name the engine.
func Connect(ctx context.Context, c Config, log *slog.Logger, name string) (*Engines, error) {
	if err := c.Require("DATABASE_URL", "NATS_URL"); err != nil {
		return nil, err
	}
	e := &Engines{Names: events.Names{Prefix: c.Prefix}}
	pool, err := postgres.Open(ctx, c.DatabaseURL, poolOptions(c)...)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	e.closers = append(e.closers, pool.Close)
	if c.AutoMigrate {
		if err := postgres.Migrate(ctx, pool); err != nil {
			e.Close()
			return nil, fmt.Errorf("database migrations: %w", err)
		}
	}
	e.Store = postgres.New(pool)
	if err := e.connectBus(ctx, c, log, name, nats.DefaultURL); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.connectRedis(ctx, c, log); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// poolOptions are the database pool's options: statements traced when the process traces,
// as spans of the task or request that runs them (never root spans of their own).
func poolOptions(c Config) []postgres.Option {
	if c.Tracer == nil {
		return nil
	}
	return []postgres.Option{postgres.WithQueryTracer(otelpgx.NewTracer(
		otelpgx.WithTracerProvider(telemetry.ChildSpansOnly(c.Tracer)),
		otelpgx.WithDisableAcquireTracer()))}
}

// connectBus connects to NATS (c.NatsURL, or url with extra options such as an in-process
// server) and sets up the streams.
func (e *Engines) connectBus(ctx context.Context, c Config, log *slog.Logger, name, url string, extra ...nats.Option) error {
	if c.NatsURL != "" {
		url = c.NatsURL
	}
	opts := append([]nats.Option{
		nats.Name("agentic-" + name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }),
	}, extra...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("nats: connect %s: %w", url, err)
	}
	e.NC = nc
	e.closers = append(e.closers, func() { _ = nc.Drain() })
	if e.JS, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(16384)); err != nil {
		return fmt.Errorf("nats: jetstream: %w", err)
	}
	if err := events.Setup(ctx, e.JS, e.Names, &events.SetupOpts{AckWait: c.AckWait, Replicas: c.Replicas}); err != nil {
		return fmt.Errorf("nats: set up streams: %w", err)
	}
	return nil
}

// redisLogger sends go-redis's own log lines (a failing dial, a pool retry) to the process's
// logger at debug level, redacted and as JSON like every other line, instead of stderr: the
// limits' outages are reported once each by limits.Outages.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// connectRedis connects to Redis when REDIS_URL is set.
func (e *Engines) connectRedis(ctx context.Context, c Config, log *slog.Logger) error {
	if c.RedisURL == "" {
		return nil
	}
	redis.SetLogger(redisLogger{log})
	opts, err := redis.ParseURL(c.RedisURL)
	if err != nil {
		return errors.New("REDIS_URL: not a valid redis URL")
	}
	rc := redis.NewClient(opts)
	if c.Tracer != nil {
		// Commands run for a traced task or request are spans of its trace; the arguments
		// (keys with tenant ids, cached values) are left out.
		if err := redisotel.InstrumentTracing(rc, redisotel.WithTracerProvider(telemetry.ChildSpansOnly(c.Tracer)),
			redisotel.WithDBStatement(false)); err != nil {
			_ = rc.Close()
			return fmt.Errorf("redis: tracing: %w", err)
		}
	}
	e.Redis = rc
	e.closers = append(e.closers, func() { _ = rc.Close() })
	checkOpts := *opts
	checkOpts.MaxRetries, checkOpts.DialerRetries = -1, 1
	checkOpts.PoolSize, checkOpts.MinIdleConns, checkOpts.MaxIdleConns = 1, 0, 1
	checkOpts.DialTimeout = time.Second
	e.redisCheck = redis.NewClient(&checkOpts)
	e.closers = append(e.closers, func() { _ = e.redisCheck.Close() })
	if err := rc.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping %s: %w", opts.Addr, err)
	}
	return nil
}

// Checks are the readiness checks of the engines this process uses.
func (e *Engines) Checks() map[string]health.Check {
	checks := map[string]health.Check{
		"database": e.Store.Ping,
		"nats": func(ctx context.Context) error {
			if !e.NC.IsConnected() {
				return errors.New("not connected")
			}
			_, err := e.JS.AccountInfo(ctx)
			return err
		},
	}
	if e.Redis != nil {
		rc := e.redisCheck
		if rc == nil {
			rc = e.Redis
		}
		checks["redis"] = func(ctx context.Context) error { return rc.Ping(ctx).Err() }
	}
	return checks
}

// Probes are the checks of /health/detailed that report more than up or down: the nats check
// with the number of tasks in the tasks stream (queued or running) as pending_tasks.
func (e *Engines) Probes() map[string]health.Probe {
	return map[string]health.Probe{
		"nats": func(ctx context.Context) (map[string]any, error) {
			if !e.NC.IsConnected() {
				return nil, errors.New("not connected")
			}
			s, err := e.JS.Stream(ctx, e.Names.TasksStream())
			if err != nil {
				return nil, fmt.Errorf("tasks stream: %w", err)
			}
			return map[string]any{"pending_tasks": s.CachedInfo().State.Msgs}, nil
		},
	}
}

// Close closes every connection that is open, the last opened first.
func (e *Engines) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// backlogTimeout bounds the JetStream requests of one collection of the backlog gauges, so
// that a NATS outage slows /metrics by at most that.
const backlogTimeout = 2 * time.Second

// observeBacklog exports what waits on JetStream, read at each collection: the tasks stream's
// messages as agentic.tasks.pending (a work queue: every task not yet finished; one stream
// info request) and, by consumer, the messages not yet delivered plus those delivered and not
// yet acknowledged as agentic.consumer.pending: webhooks (a consumer info request) and ops (the
// ops stream's messages, one stream info request). What cannot be read is left out of that collection, and logged at debug level.
func observeBacklog(m metric.Meter, js jetstream.JetStream, names events.Names, log *slog.Logger) (metric.Registration, error) {
	tasks, err := m.Int64ObservableGauge("agentic.tasks.pending", metric.WithUnit("{task}"),
		metric.WithDescription("Tasks not yet finished: the messages in the tasks stream (a work queue)."))
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	consumers, err := m.Int64ObservableGauge("agentic.consumer.pending", metric.WithUnit("{message}"),
		metric.WithDescription("Messages a durable consumer has not yet delivered, plus those delivered and not yet acknowledged, by consumer."))
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	durables := []struct{ stream, consumer string }{
		{names.EventsStream(), events.ConsumerWebhooks},
	}
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, backlogTimeout)
		defer cancel()
		if s, err := js.Stream(ctx, names.TasksStream()); err != nil {
			log.DebugContext(ctx, "metrics: tasks stream info", "error", err)
		} else {
			o.ObserveInt64(tasks, int64(s.CachedInfo().State.Msgs))
		}
		// The ops stream is a work queue read by one consumer per type of event: its messages
		// are the ops events not yet done, reported as consumer "ops".
		if s, err := js.Stream(ctx, names.OpsStream()); err != nil {
			log.DebugContext(ctx, "metrics: ops stream info", "error", err)
		} else {
			o.ObserveInt64(consumers, int64(s.CachedInfo().State.Msgs), metric.WithAttributes(attribute.String("consumer", "ops")))
		}
		for _, d := range durables {
			c, err := js.Consumer(ctx, d.stream, d.consumer)
			if err != nil {
				log.DebugContext(ctx, "metrics: consumer info", "consumer", d.consumer, "error", err)
				continue
			}
			info := c.CachedInfo()
			o.ObserveInt64(consumers, int64(info.NumPending)+int64(info.NumAckPending),
				metric.WithAttributes(attribute.String("consumer", d.consumer)))
		}
		return nil
	}, tasks, consumers)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return reg, nil
}
