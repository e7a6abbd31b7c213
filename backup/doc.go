// Package backup takes, verifies, prunes and restores backups of Agentic's PostgreSQL
// database with pg_dump and pg_restore, and of dev mode's SQLite database, and keeps copies in
// S3-compatible storage (part of issue 8: verified backups).
//
// Run dumps DATABASE_URL (its search_path schema, when the URL sets one through options,
// else the whole database) with pg_dump -Fc into a temporary file in AGENTIC_BACKUP_DIR,
// verifies it, checksums it and renames it into place as agentic-<UTC time>.dump. A
// backup is verified when its table of contents lists with pg_restore --list and every data
// block reads back whole (pg_restore into /dev/null): a listing reads only the head of the
// file, so a truncated dump would still list. A dump that fails any step is removed, never
// kept as good. Verify repeats the check on a file, against its recorded checksum when one
// is given; Prune applies retention by the time in the names, never removing the newest
// backup; Restore verifies a file and restores it, in one transaction, into a database (or a
// schema recreated empty) that holds none of its objects.
//
// The dump must be taken by a role that bypasses row-level security (a superuser, or a role
// with BYPASSRLS): the store's tables FORCE their policies (migration 00003), and pg_dump
// fails rather than dump a filtered table. The password reaches the tools in PGPASSWORD,
// never on a command line, and is scrubbed from their messages.
//
// How it fits: the scheduler publishes ops.backup.requested; its handler (handlers.Backups)
// calls Run, uploads the Result with S3, records it in the store (file, size, SHA-256,
// entries, key) and exports agentic_backup_last_success_timestamp_seconds and
// agentic_backup_failures_total (the deploy alerts use them), then calls Prune with the
// retention. The `agentic backup` command runs the same by hand and `agentic restore`
// calls Restore (or RestoreSQLite).
//
// S3 copies each verified backup to S3-compatible storage (AWS S3, MinIO, versitygw…) with
// the official AWS SDK for Go v2: Upload checks the file against its Result, sends it with its
// SHA-256 (x-amz-checksum-sha256, which the server verifies and keeps) under the configured key
// prefix, then checks the stored object's size and checksum, deleting it if they are wrong.
// S3.Prune applies the local retention rule to the bucket, and Download fetches a backup back,
// checked against the SHA-256 stored with it, for a restore.
//
// In dev mode the store is a SQLite file (store/sqlite). RunSQLite backs it up with VACUUM
// INTO, a consistent snapshot taken while the store runs, as agentic-<UTC time>.db, verified by
// VerifySQLite (PRAGMA integrity_check and the store's tables); RestoreSQLite puts one back in
// place of a missing or empty database. Prune and S3.Prune count .db and .dump backups alike.
package backup
