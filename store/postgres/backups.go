package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/agentic-run/agentic/store"
)

const backupCols = `id, trigger, outcome, file, size_bytes, sha256, entries, s3_key, error, started_at, finished_at`

// RecordBackup stores one backup run.
func (s *Store) RecordBackup(ctx context.Context, b *store.Backup) error {
	if err := store.CheckBackup(b); err != nil {
		return err
	}
	b.StartedAt, b.FinishedAt = ts(b.StartedAt), ts(b.FinishedAt)
	_, err := s.exec(ctx, system, `INSERT INTO backups (`+backupCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		b.ID, b.Trigger, b.Outcome, b.File, b.Size, b.SHA256, b.Entries, b.S3Key, b.Error, b.StartedAt, b.FinishedAt)
	if err != nil {
		return fmt.Errorf("record backup: %w", translate(err))
	}
	return nil
}

// ListBackups returns the latest backup runs, newest first.
func (s *Store) ListBackups(ctx context.Context, f store.BackupFilter) ([]*store.Backup, error) {
	f, err := f.Check()
	if err != nil {
		return nil, err
	}
	out := []*store.Backup{}
	err = s.query(ctx, system, `SELECT `+backupCols+` FROM backups
		WHERE $1 = '' OR outcome = $1 ORDER BY finished_at DESC, id DESC LIMIT $2`,
		[]any{f.Outcome, f.Limit}, func(rows pgx.Rows) error {
			var b store.Backup
			if err := rows.Scan(&b.ID, &b.Trigger, &b.Outcome, &b.File, &b.Size, &b.SHA256, &b.Entries,
				&b.S3Key, &b.Error, &b.StartedAt, &b.FinishedAt); err != nil {
				return err
			}
			b.StartedAt, b.FinishedAt = b.StartedAt.UTC(), b.FinishedAt.UTC()
			out = append(out, &b)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", translate(err))
	}
	return out, nil
}
