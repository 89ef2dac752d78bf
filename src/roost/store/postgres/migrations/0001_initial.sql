-- Roost schema 1 (PostgreSQL). Runs with search_path set to the configured schema.
-- Emails and domains are stored lower-cased (see roost.store.common).

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO meta (key, value) VALUES ('schema_version', '0'), ('directory_serial', '0');

CREATE TABLE domains (
    name       text PRIMARY KEY,
    created_at timestamptz NOT NULL
);

CREATE TABLE users (
    email         text PRIMARY KEY,
    domain        text NOT NULL REFERENCES domains (name),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX users_domain ON users (domain);

-- One row per (source, target); source '@domain' is a catch-all.
CREATE TABLE aliases (
    source text NOT NULL,
    target text NOT NULL,
    domain text NOT NULL REFERENCES domains (name),
    PRIMARY KEY (source, target)
);
CREATE INDEX aliases_domain ON aliases (domain);

CREATE TABLE mailboxes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_email    text NOT NULL REFERENCES users (email) ON DELETE CASCADE,
    name          text NOT NULL,
    uidvalidity   bigint NOT NULL,
    uidnext       bigint NOT NULL,
    highestmodseq bigint NOT NULL,
    subscribed    boolean NOT NULL DEFAULT true,
    UNIQUE (user_email, name)
);

CREATE TABLE messages (
    mailbox_id    bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    uid           bigint NOT NULL,
    blob_digest   text NOT NULL,
    blob_size     bigint NOT NULL,
    prefix        bytea NOT NULL,
    size          bigint NOT NULL,
    internal_date timestamptz NOT NULL,
    flags         text NOT NULL DEFAULT '',
    modseq        bigint NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_blob ON messages (blob_digest);

CREATE TABLE queue (
    queue_id     text PRIMARY KEY,
    state        text NOT NULL,
    sender       text NOT NULL,
    blob_digest  text NOT NULL,
    blob_size    bigint NOT NULL,
    prefix       bytea NOT NULL,
    received_at  timestamptz NOT NULL,
    next_attempt timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    client_ip    text NOT NULL DEFAULT '',
    helo         text NOT NULL DEFAULT '',
    auth_user    text,
    body_type    text NOT NULL DEFAULT '7BIT',
    smtputf8     boolean NOT NULL DEFAULT false,
    ret          text,
    envid        text,
    lease_owner  text,
    lease_until  timestamptz
);
CREATE INDEX queue_due ON queue (state, next_attempt);
CREATE INDEX queue_blob ON queue (blob_digest);

CREATE TABLE queue_recipients (
    queue_id        text NOT NULL REFERENCES queue (queue_id) ON DELETE CASCADE,
    idx             integer NOT NULL,
    address         text NOT NULL,
    status          text NOT NULL,
    deliver_to      text,
    delivery_prefix bytea NOT NULL DEFAULT '\x'::bytea,
    orcpt           text,
    notify          text,
    last_reply      text,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (queue_id, idx)
);
