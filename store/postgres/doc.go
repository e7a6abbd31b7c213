// Package postgres is the PostgreSQL implementation of store.Store on a pgx/v5 pool.
//
// Open connects; Migrate applies the SQL migrations embedded from migrations/ with goose,
// under a session advisory lock so replicas starting together migrate once; New wraps the
// pool. Tables are created unqualified, in the first schema of the connection's search_path,
// which is how store/postgres/pgtest gives every test a schema of its own.
//
// The hot paths are single statements: CreateTask is one INSERT (with an Idempotency-Key, one
// INSERT … ON CONFLICT that claims the key, race-safe); StartTask, Heartbeat and ReleaseTask
// are one conditional UPDATE each; FinishTask updates the task (its routing too) and inserts
// its usage record and the attempt's model calls (llm_calls) in one statement, guarded by
// "status is not terminal", so a terminal state, its usage and its calls are written exactly
// once however many workers race. A second query runs only on a miss, to tell
// the caller why. Listing is keyset-paginated on (created_at, id) and served by indexes. A
// metadata filter is served by task_metadata, one row per pair written by the submit's own
// statement, whose btree row-level security can use (a GIN index on the jsonb could not:
// containment is not leakproof, so the policy must be checked first; see migration 00005).
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
// Row-level security (migration 00003, scope.go) is the second wall behind the queries' own
// tenant filters. Every table holding tenant data has policies, FORCEd so they bind the
// owner too. Each statement runs, for its one transaction, as one of two roles entered with
// set_config('role', …, true) in the same pipelined round trip: tenant-facing methods (those
// that take a tenant id: CreateTask, GetTask, ListTasks, CancelTask, ListDeliveries) as
// agentic_tenant with agentic.tenant_id set to that tenant, whose policies admit only its
// rows; the rest (workers, dispatchers, the outbox, admin and API-key lookup) as
// agentic_system. Neither role can log in, owns a table or has BYPASSRLS, and no setting
// widens what the tenant role sees. The login in DATABASE_URL must be a member of both (the
// migration grants it) without inheriting their privileges, and in production no superuser:
// superusers bypass every policy. A statement sent without a role — a bug — runs as that
// login, which the forced policies leave with no rows at all.
package postgres
