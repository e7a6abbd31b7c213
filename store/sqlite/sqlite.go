package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/agentic-run/agentic/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

var _ store.Store = (*Store)(nil)

// Store is the SQLite implementation of store.Store. It is safe for concurrent use within one
// process: writes go through a single connection, one transaction at a time, and reads use a
// pool of read-only connections that WAL lets run alongside the writer.
type Store struct {
	path string
	w    *sql.DB // one connection: every write, in BEGIN IMMEDIATE transactions
	r    *sql.DB // read-only connections
}

// BusyTimeout is how long a connection waits for a lock another connection (or process)
// holds before it reports the database busy.
const BusyTimeout = 10 * time.Second

// Open opens the SQLite database at path, creating the file if it does not exist (its
// directory must), and applies the embedded migrations that are not yet applied. The
// database runs in WAL mode with synchronous=NORMAL (durable against a process crash; a
// power loss may lose the last commits) and foreign keys enforced. Errors name the path and
// carry no driver types.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: %q is not a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("sqlite: %s is a directory, not a database file", path)
	}
	busy := strconv.FormatInt(BusyTimeout.Milliseconds(), 10)
	w, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_pragma": {"busy_timeout(" + busy + ")", "foreign_keys(1)", "journal_mode(WAL)", "synchronous(NORMAL)"},
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, translate(ctx, err))
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrateRetrying(ctx, w); err != nil {
		_ = w.Close()
		return nil, openError(path, abs, err)
	}
	r, err := sql.Open("sqlite", dsn(abs, url.Values{
		"_pragma": {"busy_timeout(" + busy + ")", "query_only(1)"},
	}))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, translate(ctx, err))
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, openError(path, abs, err)
	}
	return &Store{path: abs, w: w, r: r}, nil
}

// dsn builds the driver's data source name: a file: URI (so that any character in the path
// is safe) followed by the driver's own parameters.
func dsn(abs string, params url.Values) string {
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter
	}
	return "file:" + p + "?" + params.Encode()
}

// openError explains a failure to open or migrate the database at path in plain words.
func openError(path, abs string, err error) error {
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("sqlite: %s is not a valid database: %s", path, se.Error())
		case sqlite3.SQLITE_CANTOPEN:
			dir := filepath.Dir(abs)
			reason := "check that its directory exists and is writable"
			if fi, serr := os.Stat(dir); serr != nil {
				reason = serr.Error()
			} else if !fi.IsDir() {
				reason = dir + " is not a directory"
			}
			return fmt.Errorf("sqlite: cannot open or create %s: %s", path, reason)
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM:
			return fmt.Errorf("sqlite: %s is not writable: %s", path, se.Error())
		}
	}
	return fmt.Errorf("sqlite: open %s: %w", path, translate(context.Background(), err))
}

// migrateRetrying is migrate, tried again while the database is busy, for up to BusyTimeout:
// when processes open a new file at once, the one switching it to WAL mode can make another's
// connection fail at once with SQLITE_BUSY, before the busy timeout applies.
func migrateRetrying(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(BusyTimeout)
	for {
		err := migrate(ctx, db)
		var se *msqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// migrate applies the embedded migrations that are not yet applied, each with its version
// row, in one BEGIN IMMEDIATE transaction: two processes opening one new file at once
// migrate it once, and a failed migration leaves nothing behind.
func migrate(ctx context.Context, db *sql.DB) error {
	type migration struct {
		version int
		name    string
	}
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var all []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return fmt.Errorf("migrate: bad migration file name %q", e.Name())
		}
		all = append(all, migration{v, e.Name()})
	}
	slices.SortFunc(all, func(a, b migration) int { return a.version - b.version })

	return write(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		if latest := all[len(all)-1].version; current > latest {
			return fmt.Errorf("migrate: the database is at schema version %d, newer than this program's %d", current, latest)
		}
		for _, m := range all {
			if m.version <= current {
				continue
			}
			body, err := migrations.ReadFile("migrations/" + m.name)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migrate %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, micros(now())); err != nil {
				return fmt.Errorf("migrate %s: %w", m.name, err)
			}
		}
		return nil
	})
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes the store's connections; the last one to close checkpoints the WAL into the
// database file.
func (s *Store) Close() error {
	rerr := s.r.Close()
	werr := s.w.Close()
	if err := errors.Join(rerr, werr); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, translate(context.Background(), err))
	}
	return nil
}

// Ping checks the database answers, on the write connection and a read one.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range []*sql.DB{s.w, s.r} {
		var one int
		if err := db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
			return fmt.Errorf("ping: %w", translate(ctx, err))
		}
	}
	return nil
}

// write runs fn in a transaction on the write connection (BEGIN IMMEDIATE), committing when
// fn returns nil. Writes are serialized: the single connection is the queue.
func write(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// write runs fn in a write transaction of the store.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return write(ctx, s.w, fn)
}

// translate maps driver errors to the store's errors so that no driver type escapes the
// package: no rows → store.ErrNotFound; a unique or primary key violation →
// store.ErrConflict; a foreign key violation (a tenant or task that does not exist) →
// store.ErrNotFound; a context error stays matchable with errors.Is; anything else keeps only
// its message. Errors this package made itself (already wrapping store errors) pass through.
func translate(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", store.ErrConflict, se.Error())
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %s", store.ErrNotFound, se.Error())
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("sqlite: %w", cerr)
		}
		return errors.New("sqlite: " + se.Error())
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("sqlite: %w", context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("sqlite: %w", context.DeadlineExceeded)
	}
	for _, e := range []error{store.ErrNotFound, store.ErrConflict, store.ErrTaskFinished,
		store.ErrTaskNotQueued, store.ErrInvalidCursor} {
		if errors.Is(err, e) {
			return err
		}
	}
	return errors.New(err.Error())
}

// micros is how times are stored: unix microseconds, which truncates to the precision
// PostgreSQL keeps and orders numerically.
func micros(t time.Time) int64 { return t.UnixMicro() }

// microsp is micros for optional times; nil stays NULL.
func microsp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros turns a stored time back into a UTC time.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// fromMicrosp is fromMicros for optional times.
func fromMicrosp(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := fromMicros(us.Int64)
	return &t
}

// ts normalises a time the way it reads back: UTC, truncated to microseconds.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// tsp is ts for optional times.
func tsp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// now is the store's clock for the few writes whose time the interface does not pass in.
func now() time.Time { return ts(time.Now()) }

// boolInt is how booleans are stored.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}
