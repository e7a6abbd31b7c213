package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/agentic-run/agentic/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

var _ store.Store = (*Store)(nil)

// Store is the PostgreSQL implementation of store.Store. It is safe for concurrent use; every
// method is a single statement on its hot path (a second one only on a miss, to say why), and
// concurrent hot-path statements share round trips and commits (see the package doc).
type Store struct {
	pool    *pgxpool.Pool
	batch   *batcher // durable: submits and terminal states
	relaxed *batcher // starts, heartbeats, publish marks, delivery records
}

// New returns a Store on pool. The schema must be migrated (see Migrate).
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, batch: newBatcher(pool, false), relaxed: newBatcher(pool, true)}
}

// Pool returns the pool the store runs on, for callers that share it (health checks, tests).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// DefaultMaxConns is the pool size when the URL sets no pool_max_conns. Mind the server's
// max_connections (100 by default) across every process.
const DefaultMaxConns = 20

// Option tunes the pool Open makes.
type Option func(*pgxpool.Config)

// WithQueryTracer traces the pool's connections with t (otelpgx's tracer, for spans of
// every statement, batch and copy).
func WithQueryTracer(t pgx.QueryTracer) Option {
	return func(c *pgxpool.Config) { c.ConnConfig.Tracer = t }
}

// Open connects a pgx pool to url (a postgres:// URL or key=value DSN) and checks that the
// server answers. Errors carry no driver types and no password.
func Open(ctx context.Context, url string, opts ...Option) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// ParseConfigError redacts the password from the connection string.
		return nil, fmt.Errorf("postgres: parse url: %s", err.Error())
	}
	for _, o := range opts {
		o(cfg)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (the CPU count, at least 4) starves a worker running hundreds of
		// tasks at once; pool_max_conns in the URL overrides this.
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", translate(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, translate(err))
	}
	return pool, nil
}

// Migrate applies the embedded SQL migrations that are not yet applied, in the first schema
// of the connection's search_path. It holds a PostgreSQL session advisory lock keyed by that
// schema while it runs, so processes starting at once migrate once and the others wait, and
// tests migrating their own schemas in parallel never wait for each other.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	var schema string
	if err := pool.QueryRow(ctx, "SELECT coalesce(current_schema(), '')").Scan(&schema); err != nil {
		return fmt.Errorf("migrate: current schema: %w", translate(err))
	}
	if schema == "" {
		return errors.New("migrate: no schema in search_path exists")
	}
	h := fnv.New64a()
	h.Write([]byte("agentic.migrate:" + schema))
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(int64(h.Sum64())),
		// Poll once a second for up to 5 minutes: migrations are short, and the default
		// 5-second period would make every waiting process wait at least that long.
		lock.WithLockTimeout(1, 300),
	)
	if err != nil {
		return fmt.Errorf("migrate: locker: %w", err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool) // closing db leaves the pool open
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", translate(err))
	}
	return nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", translate(err))
	}
	return nil
}

// translate maps driver errors to the store's errors so that no pgx type escapes the package:
// no rows → store.ErrNotFound; a unique violation → store.ErrConflict; a foreign key violation
// (a tenant or task that does not exist) → store.ErrNotFound; a context error stays matchable
// with errors.Is; anything else keeps only its message.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %s", store.ErrConflict, pgErr.ConstraintName)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: %s", store.ErrNotFound, pgErr.ConstraintName)
		}
		return fmt.Errorf("postgres %s: %s", pgErr.Code, pgErr.Message)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("postgres: %w", context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("postgres: %w", context.DeadlineExceeded)
	}
	return errors.New(err.Error())
}

// ts normalises a time for storage: UTC, truncated to the microseconds PostgreSQL keeps, so a
// value written and read back compares equal.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// tsp is ts for optional times.
func tsp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// utcp converts a scanned optional time to UTC.
func utcp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// now is the store's clock for the few writes whose time the interface does not pass in.
func now() time.Time { return ts(time.Now()) }
