-- The LLM response cache: a task may opt out of it, and the calls it answers show what they
-- saved.
--
-- * tasks.cache: whether the task may be answered from the response cache and its answer
--   stored there (POST /v1/tasks "cache", default true). Tasks queued before this migration
--   keep the default.
-- * llm_calls.saved_micros: for a call answered from the cache (outcome 'cached', cost 0), the
--   cost of the call that produced the answer; 0 for every other call. GET /v1/usage sums it
--   per tenant and period on llm_calls_tenant_created_idx.
--
-- Both columns have constant defaults, so adding them rewrites no rows.

-- +goose Up
ALTER TABLE tasks ADD COLUMN cache boolean NOT NULL DEFAULT true;
ALTER TABLE llm_calls ADD COLUMN saved_micros bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE llm_calls DROP COLUMN saved_micros;
ALTER TABLE tasks DROP COLUMN cache;
