-- The ACME store routers share (`acme.store.kind = "control"` in router.toml): one
-- account key, a certificate per host, and per host the claim of the replica ordering it.
-- Key material is only ever read back by the store's own GET endpoints.

CREATE TABLE acme_account (
    -- One row: the routers share one ACME account.
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    -- PKCS#8 DER.
    key        BLOB    NOT NULL,
    created_at BIGINT  NOT NULL
);

CREATE TABLE acme_certificates (
    host       TEXT    PRIMARY KEY,
    -- PEM: the private key, then the chain (leaf first).
    pem        TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL
);

CREATE TABLE acme_claims (
    host       TEXT    PRIMARY KEY,
    -- The replica ordering the host.
    owner      TEXT    NOT NULL,
    -- Unix ms by the control plane's clock; past it, another replica may claim the host.
    expires_at BIGINT  NOT NULL
);
