-- +goose Up
-- Every name is unqualified so the schema lands in the first schema of the connection's
-- search_path (tests give each test its own schema).

CREATE TABLE tenants (
    id                    text PRIMARY KEY,
    name                  text NOT NULL,
    tier                  text NOT NULL,
    -- micro-dollars; NULL = no budget
    monthly_budget_micros bigint CHECK (monthly_budget_micros >= 0),
    webhook_secret        text NOT NULL,
    created_at            timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    name       text NOT NULL DEFAULT '',
    prefix     text NOT NULL,
    -- sha256 of the full key; the key itself is never stored
    hash       bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

CREATE TABLE tasks (
    id               text PRIMARY KEY,
    tenant_id        text NOT NULL REFERENCES tenants (id),
    agent            text NOT NULL,
    status           text NOT NULL
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    -- json (not jsonb) keeps the client's bytes exactly as sent
    input            json NOT NULL,
    output           json,
    error_code       text,
    error_message    text,
    model            text,
    provider         text,
    input_tokens     bigint NOT NULL DEFAULT 0,
    output_tokens    bigint NOT NULL DEFAULT 0,
    cost_micros      bigint NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 0,
    metadata         jsonb NOT NULL DEFAULT '{}',
    webhook_url      text,
    quality          text NOT NULL DEFAULT '',
    max_cost_micros  bigint,
    idempotency_key  text,
    request_hash     bytea,
    trace_id         text NOT NULL DEFAULT '',
    cancel_requested boolean NOT NULL DEFAULT false,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    published_at     timestamptz
);

-- GET /v1/tasks: a tenant's tasks newest first, keyset-paginated on (created_at, id).
CREATE INDEX tasks_tenant_created_idx ON tasks (tenant_id, created_at DESC, id DESC);
-- Live work: sweeps for expired leases and queue depth.
CREATE INDEX tasks_live_idx ON tasks (status, lease_until)
    WHERE status IN ('queued', 'running');
-- The outbox: queued tasks whose publish was never recorded, oldest first.
CREATE INDEX tasks_unpublished_idx ON tasks (created_at, id)
    WHERE status = 'queued' AND published_at IS NULL;
-- metadata.KEY=VALUE filters (metadata @> '{"k":"v"}').
CREATE INDEX tasks_metadata_idx ON tasks USING gin (metadata jsonb_path_ops);

-- One row per (tenant, Idempotency-Key): the task it created and when. A key older than 24 h
-- (measured against the new task's created_at) is taken over by the next task that uses it.
CREATE TABLE idempotency_keys (
    tenant_id  text NOT NULL,
    key        text NOT NULL,
    task_id    text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

-- Usage and settled cost, written once per terminal task in the statement that ends it.
CREATE TABLE usage_records (
    task_id       text PRIMARY KEY REFERENCES tasks (id),
    tenant_id     text NOT NULL,
    agent         text NOT NULL,
    status        text NOT NULL,
    provider      text NOT NULL DEFAULT '',
    model         text NOT NULL DEFAULT '',
    input_tokens  bigint NOT NULL,
    output_tokens bigint NOT NULL,
    cost_micros   bigint NOT NULL,
    created_at    timestamptz NOT NULL
);

-- GET /v1/usage and budget checks: a tenant's records in a time range.
CREATE INDEX usage_records_tenant_created_idx ON usage_records (tenant_id, created_at);

CREATE TABLE webhook_deliveries (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL,
    task_id     text NOT NULL REFERENCES tasks (id),
    webhook_id  text NOT NULL,
    event_type  text NOT NULL,
    url         text NOT NULL,
    attempt     integer NOT NULL,
    status_code integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT '',
    succeeded   boolean NOT NULL,
    final       boolean NOT NULL,
    duration_ms bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL
);

CREATE INDEX webhook_deliveries_task_idx ON webhook_deliveries (task_id, created_at, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE usage_records;
DROP TABLE idempotency_keys;
DROP TABLE tasks;
DROP TABLE api_keys;
DROP TABLE tenants;
