// Package pgtest gives tests a PostgreSQL schema of their own with the migrations applied, so
// tests (and the processes they start) run in parallel without seeing each other's rows.
//
// It connects to TEST_DATABASE_URL (default DefaultURL). A test that cannot reach the server
// fails with t.Fatalf: a missing engine must never pass as a skip.
package pgtest

import (
	"context"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
)

// DefaultURL is the server tests use when TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// MaxConns is the size of each test's pool: enough for the 16-goroutine race tests to
// contend, small enough that many parallel test binaries stay under max_connections.
const MaxConns = 8

// BaseURL returns TEST_DATABASE_URL, or DefaultURL when it is unset.
func BaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9]+`)

// Schema creates a fresh, empty schema (dropped with everything in it when the test ends) and
// returns a connection URL whose connections use it as their search_path (through the
// options=-csearch_path=… parameter, which psql and other processes understand too). It does
// not migrate: New and Pool do, and so does any process that runs postgres.Migrate on the URL.
func Schema(t testing.TB) string {
	t.Helper()
	base := BaseURL()
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: TEST_DATABASE_URL must be a postgres:// URL, got %q", redact(base))
	}
	name := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(name) > 24 {
		name = name[:24]
	}
	schema := "pgtest_" + name + "_" + strings.TrimPrefix(store.NewID("x"), "x_")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: cannot reach PostgreSQL at %s (set TEST_DATABASE_URL): %v", redact(base), err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("options", "-csearch_path="+schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// URL returns a connection URL for a fresh schema with the migrations applied, for tests that
// start other processes (or their run functions) against the same database state.
func URL(t testing.TB) string {
	t.Helper()
	u := Schema(t)
	pool := open(t, u)
	defer pool.Close()
	migrate(t, pool)
	return u
}

// Pool returns a pool on a fresh, migrated schema; it is closed when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := open(t, Schema(t))
	t.Cleanup(pool.Close)
	migrate(t, pool)
	return pool
}

// New returns a Store on a fresh, migrated schema.
func New(t testing.TB) *postgres.Store {
	t.Helper()
	return postgres.New(Pool(t))
}

func open(t testing.TB, u string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		t.Fatalf("pgtest: parse url: %v", err)
	}
	cfg.MaxConns = MaxConns
	cfg.MaxConnIdleTime = 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("pgtest: cannot reach PostgreSQL at %s (set TEST_DATABASE_URL): %v", redact(u), err)
	}
	return pool
}

func migrate(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// redact hides a URL's password in messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// Exec runs sql on the test's schema through pool and fails the test on error; a shortcut
// for test set-up that the Store does not cover.
func Exec(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("pgtest: exec %q: %v", sql, err)
	}
}
