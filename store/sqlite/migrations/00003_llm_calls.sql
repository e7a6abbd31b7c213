-- Every model call a task made, and how the router chose its model: the twin of
-- store/postgres's 00006_llm_calls.sql.
--
-- * llm_calls: one row per call to a model (or per call skipped because the model's circuit
--   was open), keyed by the task's attempt and the call's order within it. A finishing
--   attempt's calls are written in the transaction that makes the task terminal; those of an
--   attempt that ends in a retry are written on their own, ignoring calls already stored.
-- * tasks.routing: the router's decision, a JSON object written with the terminal state.

CREATE TABLE llm_calls (
    tenant_id     TEXT NOT NULL,
    task_id       TEXT NOT NULL REFERENCES tasks (id),
    attempt       INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_micros   INTEGER NOT NULL DEFAULT 0,
    latency_ms    INTEGER NOT NULL DEFAULT 0,
    outcome       TEXT NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (task_id, attempt, seq)
) STRICT, WITHOUT ROWID;

-- A tenant's calls in a time range (usage by model and outcome).
CREATE INDEX llm_calls_tenant_created_idx ON llm_calls (tenant_id, created_at);

ALTER TABLE tasks ADD COLUMN routing TEXT CHECK (routing IS NULL OR json_valid(routing));
