-- Every model call a task made, and how the router chose its model.
--
-- * llm_calls: one row per call to a model (or per call skipped because the model's circuit
--   was open), keyed by the task's attempt and the call's order within it. The calls of a
--   finishing attempt are written by the statement that makes the task terminal (so exactly
--   once with it); those of an attempt that ends in a retry by their own INSERT … ON CONFLICT
--   DO NOTHING, so a redelivered attempt never duplicates them. Rows never change.
-- * tasks.routing: the router's decision (estimated complexity, quality floor, every model
--   considered and why it was dropped), written with the terminal state.
--
-- Row-level security as for the other tenant tables: a tenant reads its own calls, the
-- system role (workers) writes them.

-- +goose Up
CREATE TABLE llm_calls (
    tenant_id     text NOT NULL,
    task_id       text NOT NULL REFERENCES tasks (id),
    attempt       integer NOT NULL,
    seq           integer NOT NULL,
    provider      text NOT NULL,
    model         text NOT NULL,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cost_micros   bigint NOT NULL DEFAULT 0,
    latency_ms    bigint NOT NULL DEFAULT 0,
    outcome       text NOT NULL,
    error         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (task_id, attempt, seq)
);

-- A tenant's calls in a time range (usage by model and outcome).
CREATE INDEX llm_calls_tenant_created_idx ON llm_calls (tenant_id, created_at);

ALTER TABLE tasks ADD COLUMN routing jsonb;

GRANT SELECT ON llm_calls TO agentic_tenant;
GRANT SELECT, INSERT ON llm_calls TO agentic_system;
ALTER TABLE llm_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_calls FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON llm_calls TO agentic_tenant
    USING (tenant_id = current_setting('agentic.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('agentic.tenant_id', true));
CREATE POLICY system_rows ON llm_calls TO agentic_system USING (true) WITH CHECK (true);

-- +goose Down
ALTER TABLE tasks DROP COLUMN routing;
DROP TABLE llm_calls;
