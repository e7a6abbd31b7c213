package main

import (
	"context"

	"github.com/agentic-run/agentic/cmd/internal/platform"
)

var backupSpec = spec{
	name:     "backup",
	synopsis: "backup [--dir DIR]",
	about: `Take a verified backup now, as the scheduler's daily backup job does: pg_dump -Fc of the
PostgreSQL database at DATABASE_URL (its search_path schema when the URL sets one), or, without
DATABASE_URL, VACUUM INTO of the SQLite database of 'agentic dev' in AGENTIC_DATA_DIR. The
backup is read back whole before it is kept (a dump that does not restore is removed, never
kept as good), checksummed with SHA-256, uploaded when AGENTIC_BACKUP_S3_BUCKET is set (and
checked there), recorded in the database, and backups older than AGENTIC_BACKUP_RETENTION
(7 days) are deleted — never the newest. Dumping PostgreSQL needs a login that bypasses
row-level security (a superuser, or a role with BYPASSRLS) and pg_dump and pg_restore on PATH.`,
	examples: []string{
		"DATABASE_URL=postgres://backup@db:5432/agentic AGENTIC_BACKUP_DIR=/var/backups/agentic agentic backup",
		"agentic backup --dir /tmp/backups   # agentic dev's SQLite database",
	},
}

func (a *app) backup(ctx context.Context, argv []string) error {
	s := backupSpec
	fs := a.flags(s)
	dir := fs.String("dir", "", "where to write the backup `DIR` (AGENTIC_BACKUP_DIR, else AGENTIC_DATA_DIR/backups)")
	pos, err := a.parse(fs, s, argv)
	if err != nil {
		return err
	}
	if err := args(s, pos, 0, ""); err != nil {
		return err
	}
	return platform.Backup(ctx, a.getenv, *dir, a.stdout)
}

var restoreSpec = spec{
	name:     "restore",
	synopsis: "restore FILE",
	about: `Restore a backup into an empty database: a PostgreSQL backup (agentic-*.dump) into
the database at DATABASE_URL (a backup of one schema restores into a schema of the same name,
which may exist but must be empty), or, without
DATABASE_URL, a SQLite backup (agentic-*.db) as the database of 'agentic dev' in
AGENTIC_DATA_DIR (stop agentic dev first). The file is verified before anything is written,
and a database that already holds the platform's tables or rows is refused: restore into a
new database, then point the platform at it. FILE may be s3://BUCKET/KEY, downloaded from the
backup bucket (AGENTIC_BACKUP_S3_*) and checked against its stored checksum first.`,
	examples: []string{
		"DATABASE_URL=postgres://postgres@db:5432/agentic_restored agentic restore /var/backups/agentic/agentic-20261125T020000Z.dump",
		"agentic restore s3://backups/agentic/agentic-20261125T020000Z.dump",
		"agentic restore .agentic/backups/agentic-20261125T020000Z.db",
	},
}

func (a *app) restore(ctx context.Context, argv []string) error {
	s := restoreSpec
	fs := a.flags(s)
	pos, err := a.parse(fs, s, argv)
	if err != nil {
		return err
	}
	if err := args(s, pos, 1, "FILE"); err != nil {
		return err
	}
	return platform.Restore(ctx, a.getenv, pos[0], a.stdout)
}
