package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/agentic-run/agentic/backup"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/sqlite"
	"github.com/agentic-run/agentic/telemetry"
)

// devDatabase is the SQLite database of agentic dev, in the data directory.
func (c Config) devDatabase() string { return filepath.Join(c.DataDir, "agentic.db") }

// newBackups returns what takes this process's backups — pg_dump of DATABASE_URL, or
// VACUUM INTO of agentic dev's SQLite database — into c.BackupDir, uploaded to c.BackupS3 when
// set; nil when c.BackupDir is empty (this worker takes no backups).
func newBackups(ctx context.Context, c Config, st store.Store, meter metric.Meter, log *slog.Logger) (*handlers.Backups, error) {
	if c.BackupDir == "" {
		return nil, nil
	}
	take := func(ctx context.Context) (*backup.Result, error) {
		if c.DatabaseURL != "" {
			return backup.Run(ctx, backup.Config{DatabaseURL: c.DatabaseURL, Dir: c.BackupDir})
		}
		return backup.RunSQLite(ctx, c.devDatabase(), c.BackupDir, nil)
	}
	var s3 *backup.S3
	if c.BackupS3 != nil {
		var err error
		if s3, err = backup.NewS3(*c.BackupS3); err != nil {
			return nil, fmt.Errorf("AGENTIC_BACKUP_S3_*: %w", err)
		}
	}
	return handlers.NewBackups(ctx, handlers.BackupsConfig{Take: take, Dir: c.BackupDir, Retention: c.BackupRetention,
		S3: s3, Store: st, Meter: meter, Logger: log})
}

// openStore opens the store of c for a command: PostgreSQL at DATABASE_URL (migrated), or the
// SQLite database of agentic dev, which must exist.
func openStore(ctx context.Context, c Config) (store.Store, func(), error) {
	if c.DatabaseURL != "" {
		pool, err := postgres.Open(ctx, c.DatabaseURL)
		if err != nil {
			return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		if c.AutoMigrate {
			if err := postgres.Migrate(ctx, pool); err != nil {
				pool.Close()
				return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
			}
		}
		return postgres.New(pool), pool.Close, nil
	}
	if _, err := os.Stat(c.devDatabase()); err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL is not set and %s has no agentic dev database: %w", c.DataDir, errors.Unwrap(err))
	}
	st, err := sqlite.Open(ctx, c.devDatabase())
	if err != nil {
		return nil, nil, err
	}
	return st, func() { _ = st.Close() }, nil
}

// Backup takes one backup now (`agentic backup`): of DATABASE_URL with pg_dump, or of
// agentic dev's SQLite database, into dir (AGENTIC_BACKUP_DIR when "", then
// AGENTIC_DATA_DIR/backups), verified, uploaded when AGENTIC_BACKUP_S3_BUCKET is set,
// recorded, and with the retention applied. It prints the backup's file, size and checksum.
func Backup(ctx context.Context, getenv func(string) string, dir string, stdout io.Writer) error {
	c, _, closeSecrets, err := load(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeSecrets()
	switch {
	case dir != "":
		c.BackupDir = dir
	case c.BackupDir == "":
		c.BackupDir = filepath.Join(c.DataDir, "backups")
	}
	st, closeStore, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer closeStore()
	log := telemetry.NewLogger(io.Discard, c.LogLevel)
	b, err := newBackups(ctx, c, st, nil, log)
	if err != nil {
		return err
	}
	rec, err := b.Run(ctx, handlers.TriggerManual)
	if err != nil {
		return fmt.Errorf("backup failed (recorded as %s): %w", rec.ID, err)
	}
	fmt.Fprintf(stdout, "backup %s: %s\n  size    %d bytes\n  sha256  %s\n  entries %d\n  took    %s\n",
		rec.ID, rec.File, rec.Size, rec.SHA256, rec.Entries, rec.FinishedAt.Sub(rec.StartedAt).Round(time.Millisecond))
	if rec.S3Key != "" {
		fmt.Fprintf(stdout, "  s3      s3://%s/%s\n", c.BackupS3.Bucket, rec.S3Key)
	}
	return nil
}

// Restore restores a backup (`agentic restore FILE`) into an empty database: DATABASE_URL's
// (its search_path schema, or the whole database), or, without DATABASE_URL, agentic dev's
// SQLite database in AGENTIC_DATA_DIR, which must not hold tenants or tasks. The file is
// verified first; s3://BUCKET/KEY is downloaded from the backup bucket (and checked against
// its stored checksum) first. A .dump is a PostgreSQL backup, a .db a SQLite one.
func Restore(ctx context.Context, getenv func(string) string, file string, stdout io.Writer) error {
	c, _, closeSecrets, err := load(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeSecrets()
	if strings.HasPrefix(file, "s3://") {
		if file, err = download(ctx, c, file); err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(filepath.Dir(file)) }()
	}
	if c.DatabaseURL != "" {
		if !strings.HasSuffix(file, ".dump") {
			return fmt.Errorf("restore: %s is not a PostgreSQL backup (agentic-*.dump)", file)
		}
		if err := backup.Restore(ctx, backup.Config{}, c.DatabaseURL, file); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "restored %s into %s\n", file, redactURL(c.DatabaseURL))
		return err
	}
	if !strings.HasSuffix(file, ".db") {
		return fmt.Errorf("restore: DATABASE_URL is not set and %s is not a SQLite backup (agentic-*.db)", file)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("AGENTIC_DATA_DIR: %w", err)
	}
	if err := backup.RestoreSQLite(ctx, file, c.devDatabase()); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "restored %s into %s\n", file, c.devDatabase())
	return err
}

// download fetches s3://BUCKET/KEY from the configured backup bucket into a temporary file.
func download(ctx context.Context, c Config, loc string) (string, error) {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" || len(u.Path) < 2 {
		return "", fmt.Errorf("restore: %q is not s3://BUCKET/KEY", loc)
	}
	if c.BackupS3 == nil {
		return "", errors.New("restore: an s3:// backup needs AGENTIC_BACKUP_S3_BUCKET and its credentials")
	}
	cfg := *c.BackupS3
	cfg.Bucket = u.Host
	s3, err := backup.NewS3(cfg)
	if err != nil {
		return "", fmt.Errorf("AGENTIC_BACKUP_S3_*: %w", err)
	}
	dir, err := os.MkdirTemp("", "agentic-restore-")
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	file, err := s3.Download(ctx, strings.TrimPrefix(u.Path, "/"), dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("restore: %w", err)
	}
	return file, nil
}

// redactURL hides a URL's password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "the database"
	}
	return u.Redacted()
}
