-- Roost schema 3 (PostgreSQL): outbound delivery. Attempt logs for `roost queue show`,
-- per-sender suppression lists, RFC 8460 TLS-RPT daily counters, the RFC 8461 MTA-STS policy
-- cache, and queue.warned so a delay DSN is sent once (by whichever node delivers).

ALTER TABLE queue ADD COLUMN warned boolean NOT NULL DEFAULT false;

-- id only orders attempts logged within the same microsecond; recipients is "0,2" (indexes).
CREATE TABLE delivery_attempts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue_id   text NOT NULL REFERENCES queue (queue_id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    recipients text NOT NULL,
    mx_host    text NOT NULL,
    ip         text NOT NULL,
    port       integer NOT NULL,
    tls        text NOT NULL,
    reply      text NOT NULL,
    status     text NOT NULL
);
CREATE INDEX delivery_attempts_queue ON delivery_attempts (queue_id);

CREATE TABLE suppressions (
    sender_domain text NOT NULL,
    address       text NOT NULL,
    reason        text NOT NULL,
    source        text NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (sender_domain, address)
);

-- policy_digest (SHA-256 hex of policy_string) stands in for the policy text in the key: a
-- remote domain chooses that text, and a btree entry holds at most about 2.7 kB.
CREATE TABLE tlsrpt_results (
    policy_domain text NOT NULL,
    day           text NOT NULL,
    policy_type   text NOT NULL,
    policy_digest text NOT NULL,
    policy_string text NOT NULL,
    mx_host       text NOT NULL,
    receiving_ip  text NOT NULL,
    result_type   text NOT NULL,
    successes     bigint NOT NULL,
    failures      bigint NOT NULL,
    PRIMARY KEY (policy_domain, day, policy_type, policy_digest, mx_host, receiving_ip,
                 result_type)
);
CREATE INDEX tlsrpt_results_day ON tlsrpt_results (day);

CREATE TABLE mta_sts_policies (
    domain     text PRIMARY KEY,
    policy_id  text NOT NULL,
    text       text NOT NULL,
    fetched_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
