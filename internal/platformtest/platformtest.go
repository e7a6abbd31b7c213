package platformtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
	"github.com/agentic-run/agentic/webhook"
)

// AdminToken is the admin token of every platform this package starts.
const AdminToken = "platformtest-admin-token"

// Options tune a platform; nil means the defaults.
type Options struct {
	// SimLatency is how long each simulated model call takes (0). Tasks of the echo agent
	// call no model and are not slowed.
	SimLatency time.Duration
	// NoWorker starts no worker, so submitted tasks stay queued (for cancel tests).
	NoWorker bool
}

// Platform is a running in-process platform.
type Platform struct {
	// URL is the base URL of the HTTP API.
	URL string
	// AdminToken is the token of the admin routes.
	AdminToken string
	// Store is the platform's database, on its own schema.
	Store *postgres.Store
	// Names are the platform's NATS subjects and streams.
	Names events.Names
	// Publisher publishes on the platform's streams.
	Publisher *events.Publisher
	// HTTP is the test server in front of the API.
	HTTP *httptest.Server
}

// New starts a platform for the test; it is stopped when the test ends.
func New(t testing.TB, opts *Options) *Platform {
	t.Helper()
	st := pgtest.New(t)
	js, names := natstest.Setup(t, &events.SetupOpts{AckWait: 5 * time.Second})
	p, err := start(t, st, js, js.Conn(), names, opts)
	if err != nil {
		t.Fatalf("platformtest: %v", err)
	}
	return p
}

// Admin returns a client of the platform with the admin token.
func (p *Platform) Admin(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(p.URL, client.WithAdminToken(p.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// NewTenant creates a tenant of the pro tier through the admin API, with one API key, and
// returns the tenant and the key.
func (p *Platform) NewTenant(ctx context.Context, name string) (*client.Tenant, string, error) {
	admin, err := client.New(p.URL, client.WithAdminToken(p.AdminToken))
	if err != nil {
		return nil, "", err
	}
	ten, err := admin.CreateTenant(ctx, client.CreateTenantRequest{Name: name, Tier: "pro"})
	if err != nil {
		return nil, "", fmt.Errorf("platformtest: create tenant: %w", err)
	}
	k, err := admin.CreateAPIKey(ctx, ten.ID, &client.APIKeyOpts{Name: "test"})
	if err != nil {
		return nil, "", fmt.Errorf("platformtest: create api key: %w", err)
	}
	return ten, k.Key, nil
}

// Tenant is NewTenant for a test: it fails the test on error and returns a client of the
// new tenant.
func (p *Platform) Tenant(t testing.TB) (*client.Tenant, *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ten, key, err := p.NewTenant(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(p.URL, client.WithAPIKey(key))
	if err != nil {
		t.Fatal(err)
	}
	return ten, c
}

// start wires ingest, a worker and the webhook dispatcher on the engines; every part is
// stopped by tb's cleanups.
func start(tb testing.TB, st *postgres.Store, js jetstream.JetStream, nc *nats.Conn, names events.Names, opts *Options) (*Platform, error) {
	if opts == nil {
		opts = &Options{}
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("PLATFORMTEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	catalog, err := agents.Builtin()
	if err != nil {
		return nil, err
	}
	pub := events.NewPublisher(js, names)
	notifier, err := events.NewNotifier(nc, names)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { _ = notifier.Close() })
	cancels, err := events.NewCancels(nc, names)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { _ = cancels.Close() })
	// Receivers in tests listen on loopback.
	policy := webhook.Policy{Allow: []string{"127.0.0.0/8", "::1", "localhost"}}

	if !opts.NoWorker {
		// As in agentic dev: the default registry, the sim answering for every provider.
		sim := llm.NewSim(llm.SimConfig{Latency: opts.SimLatency})
		providers := make(map[string]llm.Provider, len(llm.KnownProviders))
		for _, name := range llm.KnownProviders {
			providers[name] = sim
		}
		caller, err := llm.NewCaller(llm.CallerConfig{Providers: providers})
		if err != nil {
			return nil, err
		}
		tasks, err := handlers.NewTasks(handlers.TasksConfig{
			Store: st, Events: pub, Cancels: cancels, Agents: catalog,
			Router: &llm.Router{Registry: llm.DefaultRegistry(), Available: caller.Available}, Caller: caller,
			Lease:      5 * time.Second,
			RetryDelay: func(int) time.Duration { return 20 * time.Millisecond },
			Logger:     log,
		})
		if err != nil {
			return nil, err
		}
		hooks, err := handlers.NewWebhooks(handlers.WebhooksConfig{
			Store: st, Sender: webhook.NewSenderOpts(policy, &webhook.SenderOpts{Timeout: 5 * time.Second}),
			GiveUpAfter: time.Minute,
			RetryDelay:  func(uint64) time.Duration { return 50 * time.Millisecond },
			Logger:      log,
		})
		if err != nil {
			return nil, err
		}
		for _, r := range []struct {
			cfg events.RunnerConfig
			h   events.Handler
		}{
			{events.RunnerConfig{Fair: &events.FairConfig{Names: names, Poll: 50 * time.Millisecond}}, tasks.Handle},
			{events.RunnerConfig{Stream: names.EventsStream(), Consumer: events.ConsumerWebhooks}, hooks.Handle},
		} {
			cfg := r.cfg
			cfg.Concurrency, cfg.Heartbeat, cfg.DrainTimeout = 8, time.Second, time.Second
			cfg.Backoff = func(uint64) time.Duration { return 20 * time.Millisecond }
			cfg.Logger = log
			runner, err := events.NewRunner(js, cfg, r.h)
			if err != nil {
				return nil, err
			}
			if err := runner.Start(context.Background()); err != nil {
				return nil, err
			}
			tb.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = runner.Stop(ctx)
			})
		}
	}

	srv, err := ingest.New(ingest.Config{
		Store:    st,
		Agents:   catalog,
		Webhooks: policy,
		Enqueue: func(t *store.Task) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := pub.PublishTask(ctx, t); err != nil {
				tb.Errorf("platformtest: enqueue %s: %v", t.ID, err)
			}
		},
		Events:      pub,
		Notifier:    notifier,
		AdminToken:  AdminToken,
		LocalKeyTTL: -1, // a revoked key stops at once
		ReadyChecks: map[string]func(context.Context) error{
			"database": st.Ping,
			"nats": func(context.Context) error {
				if !nc.IsConnected() {
					return errors.New("nats: not connected")
				}
				return nil
			},
		},
		Version:      "platformtest",
		Logger:       log,
		SSEHeartbeat: time.Second,
	})
	if err != nil {
		return nil, err
	}
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(func() {
		hs.CloseClientConnections() // event streams a test left open
		hs.Close()
	})
	return &Platform{URL: hs.URL, AdminToken: AdminToken, Store: st, Names: names, Publisher: pub, HTTP: hs}, nil
}
