-- Roost schema 6 (PostgreSQL): greylisting triplets (RFC 6647), shared by every node of a
-- cluster. One row per (client network, envelope sender, recipient): first_seen starts the
-- delay; passed_at is set by the first retry inside the window, after which last_seen
-- (refreshed by each passing message) keeps the triplet whitelisted. Nodes that see the same
-- triplet at once both insert with ON CONFLICT DO NOTHING and then lock the row, so they agree.

CREATE TABLE greylist (
    client_net text NOT NULL,
    sender     text NOT NULL,
    recipient  text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    passed_at  timestamptz,
    attempts   integer NOT NULL DEFAULT 1,
    PRIMARY KEY (client_net, sender, recipient)
);
-- The purge deletes by age.
CREATE INDEX greylist_last_seen ON greylist (last_seen);
