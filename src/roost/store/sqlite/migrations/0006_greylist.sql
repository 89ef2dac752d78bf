-- Roost schema 6 (SQLite): greylisting triplets (RFC 6647), shared by every node of a cluster.
-- One row per (client network, envelope sender, recipient): first_seen starts the delay;
-- passed_at is set by the first retry inside the window, after which last_seen (refreshed by
-- each passing message) keeps the triplet whitelisted. Timestamps are UTC text as in schema 1.

CREATE TABLE greylist (
    client_net TEXT NOT NULL,
    sender     TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    passed_at  TEXT,
    attempts   INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (client_net, sender, recipient)
);
-- The purge deletes by age.
CREATE INDEX greylist_last_seen ON greylist (last_seen);
