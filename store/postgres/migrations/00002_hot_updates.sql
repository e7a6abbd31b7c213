-- Fewer index writes on the hot path. Every task row is updated three times (publish mark,
-- start, finish); an update that touches no indexed column is HOT (no new index entries)
-- when its page has room.
--
-- * The outbox index no longer names published_at, so the publish mark is a HOT update; the
--   sweep filters published_at among queued tasks, oldest first.
-- * tasks_live_idx served no query (lease sweeps and queue depth come later; they can add
--   the index they need).
-- * fillfactor 80 leaves room on each page for HOT versions.

-- +goose Up
DROP INDEX tasks_unpublished_idx;
DROP INDEX tasks_live_idx;
CREATE INDEX tasks_queued_idx ON tasks (created_at, id) WHERE status = 'queued';
ALTER TABLE tasks SET (fillfactor = 80);

-- +goose Down
ALTER TABLE tasks RESET (fillfactor);
DROP INDEX tasks_queued_idx;
CREATE INDEX tasks_live_idx ON tasks (status, lease_until)
    WHERE status IN ('queued', 'running');
CREATE INDEX tasks_unpublished_idx ON tasks (created_at, id)
    WHERE status = 'queued' AND published_at IS NULL;
