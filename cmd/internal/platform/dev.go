package platform

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/sqlite"
	"github.com/agentic-run/agentic/telemetry"
)

// DevOpts are the knobs of RunDev that are not configuration: where it writes.
type DevOpts struct {
	// Out receives the banner (URL, keys, a curl line); Logs receives the JSON logs.
	Out, Logs io.Writer
	// Listening, if set, is told ingest's address once it serves.
	Listening func(addr string)
}

// demo is what the first start creates and later starts print again.
type demo struct {
	TenantID string `json:"tenant_id"`
	APIKey   string `json:"api_key"`
}

// RunDev runs the whole platform in one process — ingest, a worker and the scheduler — on
// embedded engines in AGENTIC_DATA_DIR: an in-process nats-server with JetStream and a SQLite
// database, unless NATS_URL or DATABASE_URL name real ones (REDIS_URL is used when set). The
// first start creates an admin token (unless AGENTIC_ADMIN_TOKEN is set) and a demo tenant
// with an API key; every start prints them with a curl line. It runs until ctx ends.
func RunDev(ctx context.Context, getenv func(string) string, o DevOpts) error {
	c, getenv, closeSecrets, err := load(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeSecrets()
	tuneGC(getenv)
	log := telemetry.NewLogger(o.Logs, c.LogLevel).With("process", "dev")
	tp, shutdown, err := telemetry.NewTracingEnv(ctx, "agentic-dev", getenv)
	if err != nil {
		return err
	}
	defer flushTraces(ctx, shutdown, log)
	c.Tracer = tp
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("AGENTIC_DATA_DIR: cannot create %s: %w", c.DataDir, errors.Unwrap(err))
	}
	if err := checkWritable(c.DataDir); err != nil {
		return fmt.Errorf("AGENTIC_DATA_DIR: %s is not writable: %w", c.DataDir, err)
	}
	if c.AdminToken == "" {
		if c.AdminToken, err = readOrCreate(filepath.Join(c.DataDir, "admin-token"), newToken); err != nil {
			return fmt.Errorf("AGENTIC_DATA_DIR: %w", err)
		}
	}
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return fmt.Errorf("AGENTIC_HTTP_ADDR: cannot listen on %s: %w", c.HTTPAddr, errors.Unwrap(errors.Unwrap(err)))
	}
	e, err := connectDev(ctx, c, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer e.Close()
	e.HTTPListener = ln
	c.Sim = true
	if c.BackupDir == "" {
		c.BackupDir = filepath.Join(c.DataDir, "backups")
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ready := make(chan string, 1)
	roles := []struct {
		name string
		run  Role
	}{{"ingest", RunIngest}, {"worker", RunWorker}, {"scheduler", RunScheduler}}
	errs := make(chan error, len(roles))
	var wg sync.WaitGroup
	for _, r := range roles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := c
			if r.name != "ingest" {
				rc.MetricsAddr = "" // ingest's /health serves the one process
			}
			listening := func(string) {}
			if r.name == "ingest" {
				listening = func(addr string) { ready <- addr }
			}
			err := r.run(ctx, rc, e, log.With("role", r.name), listening)
			if err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("%s: %w", r.name, err))
			}
			errs <- err
		}()
	}
	select {
	case addr := <-ready:
		if err := welcome(ctx, c, addr, o.Out); err != nil {
			cancel(err)
		} else if o.Listening != nil {
			o.Listening(addr)
		}
	case <-ctx.Done():
	}
	<-ctx.Done()
	wg.Wait()
	close(errs)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	var all error
	for err := range errs {
		all = errors.Join(all, err)
	}
	return all
}

// connectDev opens the engines of dev mode: the real ones that are configured, embedded ones
// for the rest.
func connectDev(ctx context.Context, c Config, log *slog.Logger) (*Engines, error) {
	e := &Engines{Names: events.Names{Prefix: c.Prefix}}
	if c.DatabaseURL != "" {
		pool, err := postgres.Open(ctx, c.DatabaseURL, poolOptions(c)...)
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		e.closers = append(e.closers, pool.Close)
		if err := postgres.Migrate(ctx, pool); err != nil {
			e.Close()
			return nil, fmt.Errorf("database migrations: %w", err)
		}
		e.Store = postgres.New(pool)
	} else {
		st, err := sqlite.Open(ctx, c.devDatabase())
		if err != nil {
			return nil, fmt.Errorf("AGENTIC_DATA_DIR: %w", err)
		}
		e.closers = append(e.closers, func() { _ = st.Close() })
		e.Store = st
	}
	var extra []nats.Option
	if c.NatsURL == "" {
		srv, err := server.NewServer(&server.Options{
			ServerName: "agentic-dev",
			DontListen: true,
			JetStream:  true,
			StoreDir:   filepath.Join(c.DataDir, "nats"),
			NoSigs:     true,
			NoLog:      true,
		})
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		srv.Start()
		e.closers = append(e.closers, func() { srv.Shutdown(); srv.WaitForShutdown() })
		if !srv.ReadyForConnections(30 * time.Second) {
			e.Close()
			return nil, fmt.Errorf("embedded nats: not ready within 30s (store %s)", filepath.Join(c.DataDir, "nats"))
		}
		extra = append(extra, nats.InProcessServer(srv))
	}
	if err := e.connectBus(ctx, c, log, "dev", nats.DefaultURL, extra...); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.connectRedis(ctx, c, log); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// welcome creates the demo tenant on first start and prints how to use the platform.
func welcome(ctx context.Context, c Config, addr string, out io.Writer) error {
	url := "http://" + addr
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "::" || host == "0.0.0.0" || host == "") {
		url = "http://127.0.0.1:" + port
	}
	path := filepath.Join(c.DataDir, "demo.json")
	var d demo
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &d) == nil && d.APIKey != "" {
		// Made by an earlier start.
	} else {
		admin, err := client.New(url, client.WithAdminToken(c.AdminToken))
		if err != nil {
			return err
		}
		ten, err := admin.CreateTenant(ctx, client.CreateTenantRequest{Name: "demo", Tier: "pro"})
		if err != nil {
			return fmt.Errorf("create the demo tenant: %w", err)
		}
		key, err := admin.CreateAPIKey(ctx, ten.ID, &client.APIKeyOpts{Name: "demo"})
		if err != nil {
			return fmt.Errorf("create the demo API key: %w", err)
		}
		d = demo{TenantID: ten.ID, APIKey: key.Key}
		b, _ := json.Marshal(d)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return fmt.Errorf("AGENTIC_DATA_DIR: %w", err)
		}
	}
	fmt.Fprintf(out, `
Agentic is running at %[1]s (state in %[2]s)
  admin token:  %[3]s
  demo API key: %[4]s

Try:
  curl -s -H 'Authorization: Bearer %[4]s' -H 'Content-Type: application/json' \
    -d '{"agent":"summarizer","input":{"text":"Agentic runs AI agents as durable tasks."}}' %[1]s/v1/tasks
  curl -s -H 'Authorization: Bearer %[4]s' '%[1]s/v1/tasks/TASK_ID?wait=30s'

`, url, c.DataDir, c.AdminToken, d.APIKey)
	return nil
}

func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return errors.Unwrap(err)
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// readOrCreate returns the trimmed content of path, creating it (mode 0600) with make() when
// it does not exist.
func readOrCreate(path string, make func() string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	v := make()
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", err
	}
	return v, nil
}

func newToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "adm_" + base64.RawURLEncoding.EncodeToString(b)
}
