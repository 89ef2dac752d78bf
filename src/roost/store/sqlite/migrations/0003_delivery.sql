-- Roost schema 3 (SQLite): outbound delivery. Attempt logs for `roost queue show`, per-sender
-- suppression lists, RFC 8460 TLS-RPT daily counters, the RFC 8461 MTA-STS policy cache, and
-- queue.warned so a delay DSN is sent once. Timestamps are UTC text as in schema 1.

ALTER TABLE queue ADD COLUMN warned INTEGER NOT NULL DEFAULT 0;

-- id only orders attempts logged within the same microsecond; recipients is "0,2" (indexes).
CREATE TABLE delivery_attempts (
    id         INTEGER PRIMARY KEY,
    queue_id   TEXT NOT NULL REFERENCES queue (queue_id) ON DELETE CASCADE,
    at         TEXT NOT NULL,
    recipients TEXT NOT NULL,
    mx_host    TEXT NOT NULL,
    ip         TEXT NOT NULL,
    port       INTEGER NOT NULL,
    tls        TEXT NOT NULL,
    reply      TEXT NOT NULL,
    status     TEXT NOT NULL
);
CREATE INDEX delivery_attempts_queue ON delivery_attempts (queue_id);

CREATE TABLE suppressions (
    sender_domain TEXT NOT NULL,
    address       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    source        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (sender_domain, address)
);

-- policy_digest (SHA-256 hex of policy_string) stands in for the policy text in the key: a
-- remote domain chooses that text and may make it longer than an index entry can hold.
CREATE TABLE tlsrpt_results (
    policy_domain TEXT NOT NULL,
    day           TEXT NOT NULL,
    policy_type   TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    policy_string TEXT NOT NULL,
    mx_host       TEXT NOT NULL,
    receiving_ip  TEXT NOT NULL,
    result_type   TEXT NOT NULL,
    successes     INTEGER NOT NULL,
    failures      INTEGER NOT NULL,
    PRIMARY KEY (policy_domain, day, policy_type, policy_digest, mx_host, receiving_ip,
                 result_type)
);
CREATE INDEX tlsrpt_results_day ON tlsrpt_results (day);

CREATE TABLE mta_sts_policies (
    domain     TEXT PRIMARY KEY,
    policy_id  TEXT NOT NULL,
    text       TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
