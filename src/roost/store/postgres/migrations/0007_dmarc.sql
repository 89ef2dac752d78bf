-- Roost schema 7 (PostgreSQL): DMARC evaluations counted per UTC day for RFC 7489 §7.2 aggregate
-- reports. A report row has many fields (DKIM and SPF results are lists), so the key is the
-- SHA-256 of the evaluation's canonical JSON (row_key); `evaluation` is that JSON, `messages` how
-- many messages had exactly that evaluation.

CREATE TABLE dmarc_results (
    policy_domain text NOT NULL,
    day           text NOT NULL,
    row_key       text NOT NULL,
    source_ip     text NOT NULL,
    header_from   text NOT NULL,
    evaluation    text NOT NULL,
    messages      bigint NOT NULL,
    PRIMARY KEY (policy_domain, day, row_key)
);
CREATE INDEX dmarc_results_day ON dmarc_results (day);
