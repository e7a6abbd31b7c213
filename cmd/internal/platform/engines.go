package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/health"
	"github.com/agentic-run/agentic/store/postgres"
)

// Engines are the connections one process holds.
type Engines struct {
	Pool  *pgxpool.Pool
	Store *postgres.Store
	NC    *nats.Conn
	JS    jetstream.JetStream
	Redis *redis.Client // nil without REDIS_URL
	Names events.Names
}

// Connect opens the database (migrating it unless AGENTIC_AUTO_MIGRATE=false), NATS (setting
// up the streams) and Redis when configured. Its errors name the engine.
func Connect(ctx context.Context, c Config, log *slog.Logger, name string) (*Engines, error) {
	if err := c.Require("DATABASE_URL", "NATS_URL"); err != nil {
		return nil, err
	}
	e := &Engines{Names: events.Names{Prefix: c.Prefix}}
	var err error
	if e.Pool, err = postgres.Open(ctx, c.DatabaseURL); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if c.AutoMigrate {
		if err := postgres.Migrate(ctx, e.Pool); err != nil {
			e.Close()
			return nil, fmt.Errorf("database migrations: %w", err)
		}
	}
	e.Store = postgres.New(e.Pool)

	e.NC, err = nats.Connect(c.NatsURL,
		nats.Name("agentic-"+name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }),
	)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("nats: connect %s: %w", c.NatsURL, err)
	}
	if e.JS, err = jetstream.New(e.NC, jetstream.WithPublishAsyncMaxPending(16384)); err != nil {
		e.Close()
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	if err := events.Setup(ctx, e.JS, e.Names, &events.SetupOpts{AckWait: c.AckWait, Replicas: c.Replicas}); err != nil {
		e.Close()
		return nil, fmt.Errorf("nats: set up streams: %w", err)
	}

	if c.RedisURL != "" {
		opts, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			e.Close()
			return nil, errors.New("REDIS_URL: not a valid redis URL")
		}
		e.Redis = redis.NewClient(opts)
		if err := e.Redis.Ping(ctx).Err(); err != nil {
			e.Close()
			return nil, fmt.Errorf("redis: ping %s: %w", opts.Addr, err)
		}
	}
	return e, nil
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
		checks["redis"] = func(ctx context.Context) error { return e.Redis.Ping(ctx).Err() }
	}
	return checks
}

// Close closes every connection that is open.
func (e *Engines) Close() {
	if e.NC != nil {
		_ = e.NC.Drain()
	}
	if e.Redis != nil {
		_ = e.Redis.Close()
	}
	if e.Pool != nil {
		e.Pool.Close()
	}
}
