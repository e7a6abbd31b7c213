// Package store defines the platform's state: tenants, API keys, tasks, usage and webhook
// deliveries, behind one interface, Store.
//
// Store is the one wide seam of the code base (a storage boundary). store/postgres implements
// it on PostgreSQL for production; an SQLite implementation serves `agentic dev`. Both must pass
// the conformance suite in store/storetest, which pins down the behaviour callers rely on:
// tenant isolation (another tenant's id is ErrNotFound), idempotent task creation within
// 24 hours, exactly one terminal state per task with usage recorded once, lease rules for
// workers, and keyset pagination newest first.
//
// Implementations translate driver errors into this package's errors (ErrNotFound,
// ErrConflict, ErrTaskFinished, ErrTaskNotQueued), so callers match with errors.Is and never
// import a driver. Money is int64 micro-dollars; times are UTC with microsecond precision.
// Ids are NewID("tsk"), NewID("ten"), … : a prefix and a time-ordered ULID.
package store
