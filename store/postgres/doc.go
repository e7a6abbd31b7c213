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
// Errors never carry pgx types: no rows is store.ErrNotFound, a unique violation
// store.ErrConflict, a reference to a missing tenant or task store.ErrNotFound.
//
// Row-level security is not enabled yet: every tenant-facing query filters by tenant id.
package postgres
