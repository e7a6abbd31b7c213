// Package backup takes, verifies, prunes and restores backups of Agentic's PostgreSQL
// database with pg_dump and pg_restore (part of issue 8: verified backups).
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
// How it fits: the scheduler publishes ops.backup.requested; its handler calls Run, records
// the Result (file, size, SHA-256, entries) and exports agentic_backup_last_success_timestamp_seconds
// and agentic_backup_failures_total (the deploy alerts use them), then calls Prune with the
// retention. The `agentic backup` command runs the same by hand and `agentic restore`
// calls Restore. Uploading each verified backup to S3 (and checking the upload against
// Result.SHA256) comes later, on top of Run's Result.
package backup
