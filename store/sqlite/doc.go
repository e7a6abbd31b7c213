// Package sqlite is the SQLite implementation of store.Store, for `agentic dev`, which runs
// the whole platform in one process on one database file (modernc.org/sqlite: pure Go, no
// cgo). Production runs on store/postgres; both pass the conformance suite in
// store/storetest, so callers see the same behaviour: the same errors, idempotency window,
// exactly-once terminal states with one usage record, lease rules and keyset pagination (with
// the same cursor format).
//
// Open creates or opens the file and applies the SQL migrations embedded from migrations/
// (the PostgreSQL schema in SQLite's types, recorded in a schema_migrations table) in one
// BEGIN IMMEDIATE transaction. The database runs in WAL mode with synchronous=NORMAL, which
// is durable against a crash of the process (a power loss may lose the last commits), with
// foreign keys enforced and a busy timeout.
//
// How it differs from store/postgres:
//   - It is for one process. Writes are serialized: every write is a transaction on the one
//     write connection (so concurrent writers queue in Go instead of failing with
//     SQLITE_BUSY), while reads run in parallel on a pool of read-only connections. Each
//     operation that decides on what it reads (idempotency claims, StartTask, FinishTask,
//     CancelTask) reads and writes in the same transaction, which the serialization makes
//     race-free.
//   - There is no row-level security and no group commit; every tenant-facing query filters
//     by tenant id, as store/postgres's do.
//   - Times are stored as INTEGER unix microseconds (UTC), JSON as TEXT kept byte for byte
//     (checked with json_valid), metadata filters use json_each instead of a GIN index.
//
// Errors never carry driver types: no rows is store.ErrNotFound, a unique violation
// store.ErrConflict, a reference to a missing tenant or task store.ErrNotFound; a file that is
// not a database, or a path that cannot be created, is reported by Open in plain words.
package sqlite
