package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/agentic-run/agentic/store"
)

const backupCols = `id, trigger, outcome, file, size_bytes, sha256, entries, s3_key, error, started_at, finished_at`

// RecordBackup stores one backup run.
func (s *Store) RecordBackup(ctx context.Context, b *store.Backup) error {
	if err := store.CheckBackup(b); err != nil {
		return err
	}
	b.StartedAt, b.FinishedAt = ts(b.StartedAt), ts(b.FinishedAt)
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO backups (`+backupCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			b.ID, b.Trigger, b.Outcome, b.File, b.Size, b.SHA256, b.Entries, b.S3Key, b.Error,
			micros(b.StartedAt), micros(b.FinishedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("record backup: %w", translate(ctx, err))
	}
	return nil
}

// ListBackups returns the latest backup runs, newest first.
func (s *Store) ListBackups(ctx context.Context, f store.BackupFilter) ([]*store.Backup, error) {
	f, err := f.Check()
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+backupCols+` FROM backups
		WHERE ?1 = '' OR outcome = ?1 ORDER BY finished_at DESC, id DESC LIMIT ?2`, f.Outcome, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", translate(ctx, err))
	}
	defer rows.Close()
	out := []*store.Backup{}
	for rows.Next() {
		var b store.Backup
		var started, finished int64
		if err := rows.Scan(&b.ID, &b.Trigger, &b.Outcome, &b.File, &b.Size, &b.SHA256, &b.Entries,
			&b.S3Key, &b.Error, &started, &finished); err != nil {
			return nil, fmt.Errorf("list backups: %w", translate(ctx, err))
		}
		b.StartedAt, b.FinishedAt = fromMicros(started), fromMicros(finished)
		out = append(out, &b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list backups: %w", translate(ctx, err))
	}
	return out, nil
}
