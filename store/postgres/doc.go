// Package postgres is the PostgreSQL implementation of store.Store on a pgx/v5 pool.
//
// Open connects; Migrate applies the SQL migrations embedded from migrations/ with goose,
// under a session advisory lock so replicas starting together migrate once; New wraps the
// pool. Tables are created unqualified, in the first schema of the connection's search_path,
// which is how store/postgres/pgtest gives every test a schema of its own.
//
// The hot paths are single statements: CreateTask is one INSERT (with an Idempotency-Key, one
// INSERT … ON CONFLICT that claims the key, race-safe); StartTask, Heartbeat and ReleaseTask
// are one conditional UPDATE each; FinishTask updates the task and inserts its usage record in
// one statement, guarded by "status is not terminal", so a terminal state and its usage are
// written exactly once however many workers race. A second query runs only on a miss, to tell
// the caller why. Listing is keyset-paginated on (created_at, id) and served by indexes (the
// metadata filter by a GIN jsonb_path_ops index).
//
// Group commit: concurrent calls of the hot paths queue up while earlier flushes run and go to
// the server together as one pipelined batch — one round trip, one transaction, one WAL
// flush (batch.go); calls of one kind in a flush (fresh submits, starts, finishes, delivery
// records) run as one multi-row statement over arrays, each row tied back to its call, so a
// busy worker pays PostgreSQL's per-statement cost once per flush. Submits and terminal states wait for their WAL flush (202 means durable;
// a result is final). Starts, heartbeats, publish marks and delivery records commit with
// synchronous_commit off: a database crash may lose the last fraction of a second of them,
// which the design absorbs (a lost start or heartbeat is redone by the lease and the
// redelivery, a lost publish mark by the deduplicated republish, and the next synchronous
// commit on the server flushes them all).
//
// Errors never carry pgx types: no rows is store.ErrNotFound, a unique violation
// store.ErrConflict, a reference to a missing tenant or task store.ErrNotFound.
//
// Row-level security is not enabled yet: every tenant-facing query filters by tenant id.
package postgres
