-- Backups: the twin of store/postgres's 00008_backups.sql. Times are Unix microseconds.

CREATE TABLE backups (
    id          TEXT PRIMARY KEY,
    trigger     TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
    file        TEXT NOT NULL DEFAULT '',
    size_bytes  INTEGER NOT NULL DEFAULT 0,
    sha256      TEXT NOT NULL DEFAULT '',
    entries     INTEGER NOT NULL DEFAULT 0,
    s3_key      TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL
);

CREATE INDEX backups_outcome_finished_idx ON backups (outcome, finished_at DESC);
CREATE INDEX backups_finished_idx ON backups (finished_at DESC);
