-- Add-ons (PostgreSQL databases, Redis key spaces) of apps, and this control plane's
-- instance id, which names what it makes on add-on servers.

CREATE TABLE addons (
    id         INTEGER PRIMARY KEY,
    app_id     INTEGER NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    -- Unique on this control plane: `slipway addons info NAME` needs no app.
    name       TEXT    NOT NULL UNIQUE,
    -- 'postgres' or 'redis'.
    kind       TEXT    NOT NULL,
    plan       TEXT    NOT NULL,
    -- 'provisioning', 'ready', 'failed' or 'deprovisioning'.
    state      TEXT    NOT NULL,
    -- host:port of the server it is on (never its credentials).
    server     TEXT    NOT NULL,
    -- The config vars' stem: DATABASE -> DATABASE_URL.
    attachment TEXT    NOT NULL,
    -- JSON object: the config vars it injects (once ready).
    config     TEXT    NOT NULL,
    -- Why it failed.
    error      TEXT,
    created_at BIGINT  NOT NULL
);
CREATE INDEX addons_app ON addons (app_id);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
