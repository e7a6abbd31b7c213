package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/agentic-run/agentic/store/postgres"
)

var migrateSpec = spec{
	name:     "migrate",
	synopsis: "migrate [--database-url URL]",
	about: `Apply the database migrations that are not yet applied to the PostgreSQL database at
DATABASE_URL (in the first schema of its search_path). It is safe to run at any time and
from several places at once: one runs the migrations, the others wait. Without DATABASE_URL,
the SQLite database of 'agentic dev' (in AGENTIC_DATA_DIR) needs no command: it migrates
itself when it is opened.`,
	examples: []string{
		"DATABASE_URL=postgres://agentic@db:5432/agentic agentic migrate",
		"agentic migrate --database-url 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'",
	},
}

func (a *app) migrate(ctx context.Context, argv []string) error {
	s := migrateSpec
	fs := a.flags(s)
	dbURL := fs.String("database-url", a.getenv("DATABASE_URL"), "PostgreSQL `URL` (DATABASE_URL)")
	pos, err := a.parse(fs, s, argv)
	if err != nil {
		return err
	}
	if err := args(s, pos, 0, ""); err != nil {
		return err
	}
	if *dbURL == "" {
		dir := a.getenv("AGENTIC_DATA_DIR")
		if dir == "" {
			dir = ".agentic"
		}
		if db := sqliteFile(dir); db != "" {
			_, err := fmt.Fprintf(a.stdout, "DATABASE_URL is not set; the SQLite database %s migrates itself when it is opened: nothing to do.\n", db)
			return err
		}
		return usageErr(s.name, "DATABASE_URL (or --database-url) is required")
	}
	pool, err := postgres.Open(ctx, *dbURL)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	_, err = fmt.Fprintf(a.stdout, "migrated %s: the schema is up to date\n", redact(*dbURL))
	return err
}

// sqliteFile returns a SQLite database file in dir, or "".
func sqliteFile(dir string) string {
	for _, pattern := range []string{"*.db", "*.sqlite", "*.sqlite3"} {
		if m, _ := filepath.Glob(filepath.Join(dir, pattern)); len(m) > 0 {
			return m[0]
		}
	}
	return ""
}

// redact hides a URL's password.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "the database"
	}
	return u.Redacted()
}
