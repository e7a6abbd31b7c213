-- The SQLite schema of store/sqlite, the dev-mode twin of store/postgres's 00001_init.sql:
-- the same tables, columns and constraints, in SQLite's types.
--
--   times     INTEGER unix microseconds, UTC (PostgreSQL keeps microseconds too), so
--             ordering is numeric and a value read back equals the one written
--   booleans  INTEGER 0 or 1
--   JSON      TEXT, kept byte for byte (json_valid plays PostgreSQL's json type check)
--   bytes     BLOB
--
-- STRICT tables refuse a value of the wrong type instead of converting it.

CREATE TABLE tenants (
    id                    TEXT NOT NULL PRIMARY KEY,
    name                  TEXT NOT NULL,
    tier                  TEXT NOT NULL,
    -- micro-dollars; NULL = no budget
    monthly_budget_micros INTEGER CHECK (monthly_budget_micros >= 0),
    webhook_secret        TEXT NOT NULL,
    created_at            INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id         TEXT NOT NULL PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL DEFAULT '',
    prefix     TEXT NOT NULL,
    -- sha256 of the full key; the key itself is never stored
    hash       BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

CREATE TABLE tasks (
    id               TEXT NOT NULL PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    agent            TEXT NOT NULL,
    status           TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    -- the client's bytes exactly as sent
    input            TEXT NOT NULL CHECK (json_valid(input)),
    output           TEXT CHECK (output IS NULL OR json_valid(output)),
    error_code       TEXT,
    error_message    TEXT,
    model            TEXT,
    provider         TEXT,
    input_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens    INTEGER NOT NULL DEFAULT 0,
    cost_micros      INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 0,
    -- a JSON object of strings
    metadata         TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    webhook_url      TEXT,
    quality          TEXT NOT NULL DEFAULT '',
    max_cost_micros  INTEGER,
    idempotency_key  TEXT,
    request_hash     BLOB,
    trace_id         TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    lease_until      INTEGER,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    published_at     INTEGER
) STRICT;

-- GET /v1/tasks: a tenant's tasks newest first, keyset-paginated on (created_at, id).
CREATE INDEX tasks_tenant_created_idx ON tasks (tenant_id, created_at DESC, id DESC);
-- Live work: sweeps for expired leases and queue depth.
CREATE INDEX tasks_live_idx ON tasks (status, lease_until)
    WHERE status IN ('queued', 'running');
-- The outbox: queued tasks whose publish was never recorded, oldest first.
CREATE INDEX tasks_unpublished_idx ON tasks (created_at, id)
    WHERE status = 'queued' AND published_at IS NULL;

-- One row per (tenant, Idempotency-Key): the task it created and when. A key older than 24 h
-- (measured against the new task's created_at) is taken over by the next task that uses it.
CREATE TABLE idempotency_keys (
    tenant_id  TEXT NOT NULL,
    key        TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
) STRICT, WITHOUT ROWID;

-- Usage and settled cost, written once per terminal task in the transaction that ends it.
CREATE TABLE usage_records (
    task_id       TEXT NOT NULL PRIMARY KEY REFERENCES tasks (id),
    tenant_id     TEXT NOT NULL,
    agent         TEXT NOT NULL,
    status        TEXT NOT NULL,
    provider      TEXT NOT NULL DEFAULT '',
    model         TEXT NOT NULL DEFAULT '',
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_micros   INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

-- GET /v1/usage and budget checks: a tenant's records in a time range.
CREATE INDEX usage_records_tenant_created_idx ON usage_records (tenant_id, created_at);

CREATE TABLE webhook_deliveries (
    id          TEXT NOT NULL PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    task_id     TEXT NOT NULL REFERENCES tasks (id),
    webhook_id  TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    url         TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    succeeded   INTEGER NOT NULL CHECK (succeeded IN (0, 1)),
    final       INTEGER NOT NULL CHECK (final IN (0, 1)),
    duration_ms INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX webhook_deliveries_task_idx ON webhook_deliveries (task_id, created_at, id);
