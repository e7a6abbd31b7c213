-- Backups: every run of the backup job, verified or failed, so an operator (and the backup
-- metrics after a restart) can tell when the last good backup was taken and where it is.
--
-- Not a tenant's table: only the system role may read and write it (its one policy), and
-- like every table it forces row-level security, so the tenant role and the owning login see
-- no row even if granted one.

-- +goose Up
CREATE TABLE backups (
    id          text PRIMARY KEY,
    trigger     text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('ok', 'failed')),
    file        text NOT NULL DEFAULT '',
    size_bytes  bigint NOT NULL DEFAULT 0,
    sha256      text NOT NULL DEFAULT '',
    entries     integer NOT NULL DEFAULT 0,
    s3_key      text NOT NULL DEFAULT '',
    error       text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL
);

-- The latest runs, and the latest good one.
CREATE INDEX backups_outcome_finished_idx ON backups (outcome, finished_at DESC);
CREATE INDEX backups_finished_idx ON backups (finished_at DESC);

GRANT SELECT, INSERT ON backups TO agentic_system;
ALTER TABLE backups ENABLE ROW LEVEL SECURITY;
ALTER TABLE backups FORCE ROW LEVEL SECURITY;
CREATE POLICY system_rows ON backups TO agentic_system USING (true) WITH CHECK (true);

-- +goose Down
DROP TABLE backups;
