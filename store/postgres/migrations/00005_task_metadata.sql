-- Metadata filters under row-level security. A tenant's statements run under policies, and
-- PostgreSQL evaluates a query's own conditions before the policy's only when they are
-- leakproof; jsonb containment (@>) is not, so the GIN index on tasks.metadata can no longer
-- serve GET /v1/tasks?metadata.KEY=VALUE (the planner scans all of the tenant's tasks and
-- filters). Text equality is leakproof: each pair is also a row here, and the btree on
-- (tenant, key, value, created_at, task) serves the filter, newest first. The GIN index goes.
-- Rows are written by the statement that inserts the task (from its metadata) and never change,
-- as a task's metadata never does.

-- +goose Up
CREATE TABLE task_metadata (
    tenant_id  text NOT NULL,
    key        text NOT NULL,
    value      text NOT NULL,
    created_at timestamptz NOT NULL,
    task_id    text NOT NULL REFERENCES tasks (id),
    PRIMARY KEY (tenant_id, key, value, created_at, task_id)
);

INSERT INTO task_metadata (tenant_id, key, value, created_at, task_id)
SELECT t.tenant_id, m.key, m.value, t.created_at, t.id
FROM tasks t, jsonb_each_text(t.metadata) m;

DROP INDEX tasks_metadata_idx;

GRANT SELECT, INSERT ON task_metadata TO agentic_tenant, agentic_system;
ALTER TABLE task_metadata ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_metadata FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON task_metadata TO agentic_tenant
    USING (tenant_id = current_setting('agentic.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('agentic.tenant_id', true));
CREATE POLICY system_rows ON task_metadata TO agentic_system USING (true) WITH CHECK (true);

-- +goose Down
DROP TABLE task_metadata;
CREATE INDEX tasks_metadata_idx ON tasks USING gin (metadata jsonb_path_ops);
