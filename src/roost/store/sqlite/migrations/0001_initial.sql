-- Roost schema 1 (SQLite). Timestamps are UTC text 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (sortable).
-- Emails and domains are stored lower-cased (see roost.store.common).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('schema_version', '0'), ('directory_serial', '0');

CREATE TABLE domains (
    name       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    email         TEXT PRIMARY KEY,
    domain        TEXT NOT NULL REFERENCES domains (name),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX users_domain ON users (domain);

-- One row per (source, target); source '@domain' is a catch-all.
CREATE TABLE aliases (
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    domain TEXT NOT NULL REFERENCES domains (name),
    PRIMARY KEY (source, target)
);
CREATE INDEX aliases_domain ON aliases (domain);

CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY,
    user_email    TEXT NOT NULL REFERENCES users (email) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    uidvalidity   INTEGER NOT NULL,
    uidnext       INTEGER NOT NULL,
    highestmodseq INTEGER NOT NULL,
    subscribed    INTEGER NOT NULL DEFAULT 1,
    UNIQUE (user_email, name)
);

CREATE TABLE messages (
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    blob_digest   TEXT NOT NULL,
    blob_size     INTEGER NOT NULL,
    prefix        BLOB NOT NULL,
    size          INTEGER NOT NULL,
    internal_date TEXT NOT NULL,
    flags         TEXT NOT NULL DEFAULT '',
    modseq        INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_blob ON messages (blob_digest);

CREATE TABLE queue (
    queue_id     TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    sender       TEXT NOT NULL,
    blob_digest  TEXT NOT NULL,
    blob_size    INTEGER NOT NULL,
    prefix       BLOB NOT NULL,
    received_at  TEXT NOT NULL,
    next_attempt TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    client_ip    TEXT NOT NULL DEFAULT '',
    helo         TEXT NOT NULL DEFAULT '',
    auth_user    TEXT,
    body_type    TEXT NOT NULL DEFAULT '7BIT',
    smtputf8     INTEGER NOT NULL DEFAULT 0,
    ret          TEXT,
    envid        TEXT,
    lease_owner  TEXT,
    lease_until  TEXT
);
CREATE INDEX queue_due ON queue (state, next_attempt);
CREATE INDEX queue_blob ON queue (blob_digest);

CREATE TABLE queue_recipients (
    queue_id        TEXT NOT NULL REFERENCES queue (queue_id) ON DELETE CASCADE,
    idx             INTEGER NOT NULL,
    address         TEXT NOT NULL,
    status          TEXT NOT NULL,
    deliver_to      TEXT,
    delivery_prefix BLOB NOT NULL DEFAULT x'',
    orcpt           TEXT,
    notify          TEXT,
    last_reply      TEXT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (queue_id, idx)
);
