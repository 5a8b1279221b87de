-- Backups of PostgreSQL add-ons (pg_dump custom format files in the data directory,
-- <data_dir>/backups/<addon>/<label>.dump). A record goes with its add-on.

CREATE TABLE backups (
    id          INTEGER PRIMARY KEY,
    addon_id    INTEGER NOT NULL REFERENCES addons (id) ON DELETE CASCADE,
    -- Per add-on, from 1: shown as b001, b002...
    number      INTEGER NOT NULL,
    -- 'running', 'completed' or 'failed'.
    state       TEXT    NOT NULL,
    -- 1: made by the schedule of the add-on's plan; 0: asked for.
    scheduled   INTEGER NOT NULL,
    created_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    -- The file's size in bytes (once completed).
    size        BIGINT,
    -- Why it failed.
    error       TEXT,
    UNIQUE (addon_id, number)
);
