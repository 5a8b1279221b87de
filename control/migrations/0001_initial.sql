-- The control plane's state. Times are Unix milliseconds. Kept to SQL that SQLite and
-- PostgreSQL both accept, so a PostgreSQL store can share the schema.

CREATE TABLE apps (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    created_at      BIGINT  NOT NULL,
    -- Idle seconds after which the app is scaled to zero; NULL: never.
    sleep_after     BIGINT,
    -- 1 while scaled to zero by the sleeper (the formation keeps its counts).
    sleeping        INTEGER NOT NULL DEFAULT 0,
    -- The live release's version.
    current_release BIGINT
);

-- Unpacked sources (builds will produce them later): one directory each under
-- <data_dir>/slugs/<app>/<id>.
CREATE TABLE slugs (
    app_id        INTEGER NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    id            TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    -- JSON: where it came from (model::SourceRef).
    source        TEXT    NOT NULL,
    -- JSON: process type -> command (the Procfile).
    process_types TEXT    NOT NULL,
    PRIMARY KEY (app_id, id)
);

-- Releases are immutable: code (slug) + config snapshot. Only `status` moves, once, from
-- 'pending' to 'succeeded' or 'failed'.
CREATE TABLE releases (
    app_id      INTEGER NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    version     BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    description TEXT    NOT NULL,
    slug_id     TEXT,
    -- JSON object: the config vars of this release.
    config      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    PRIMARY KEY (app_id, version)
);

CREATE TABLE formation (
    app_id       INTEGER NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    process_type TEXT    NOT NULL,
    quantity     INTEGER NOT NULL,
    PRIMARY KEY (app_id, process_type)
);

CREATE TABLE domains (
    hostname   TEXT    PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL
);
CREATE INDEX domains_app ON domains (app_id);
