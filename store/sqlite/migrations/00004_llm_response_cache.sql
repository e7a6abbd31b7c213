-- The LLM response cache: the twin of store/postgres's 00007_llm_response_cache.sql.
--
-- * tasks.cache: 1 when the task may be answered from the response cache and its answer
--   stored there (POST /v1/tasks "cache", default true), 0 when the client opted out.
-- * llm_calls.saved_micros: for a call answered from the cache (outcome 'cached', cost 0), the
--   cost of the call that produced the answer; 0 for every other call.

ALTER TABLE tasks ADD COLUMN cache INTEGER NOT NULL DEFAULT 1 CHECK (cache IN (0, 1));
ALTER TABLE llm_calls ADD COLUMN saved_micros INTEGER NOT NULL DEFAULT 0;
