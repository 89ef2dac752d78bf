-- Roost schema 5 (PostgreSQL): what the IMAP server reads on every FETCH and what quota needs.
-- message_structures holds ENVELOPE, BODY and BODYSTRUCTURE in wire form, computed once per
-- blob (keyed by its digest, shared by every copy) and removed with the blob. users get a
-- per-user STORAGE limit (RFC 9208; NULL = the server default) and counters of the octets and
-- messages in all their mailboxes, kept by statement-level triggers on messages (one UPDATE
-- per user per statement, not per row) so that every path that adds or removes a message
-- updates them in its own transaction.

CREATE TABLE message_structures (
    digest        text PRIMARY KEY,
    envelope      bytea NOT NULL,
    body          bytea NOT NULL,
    bodystructure bytea NOT NULL
);

ALTER TABLE users ADD COLUMN quota_limit bigint;
ALTER TABLE users ADD COLUMN used_octets bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN used_messages bigint NOT NULL DEFAULT 0;

UPDATE users u SET used_octets = d.octets, used_messages = d.n
FROM (SELECT m.user_email, SUM(x.size) AS octets, COUNT(*) AS n
      FROM messages x JOIN mailboxes m ON m.id = x.mailbox_id GROUP BY m.user_email) d
WHERE u.email = d.user_email;

CREATE FUNCTION roost_usage_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users u SET used_octets = u.used_octets + d.octets, used_messages = u.used_messages + d.n
    FROM (SELECT m.user_email, SUM(x.size) AS octets, COUNT(*) AS n
          FROM added_rows x JOIN mailboxes m ON m.id = x.mailbox_id GROUP BY m.user_email) d
    WHERE u.email = d.user_email;
    RETURN NULL;
END $$;

CREATE FUNCTION roost_usage_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users u SET used_octets = u.used_octets - d.octets, used_messages = u.used_messages - d.n
    FROM (SELECT m.user_email, SUM(x.size) AS octets, COUNT(*) AS n
          FROM removed_rows x JOIN mailboxes m ON m.id = x.mailbox_id GROUP BY m.user_email) d
    WHERE u.email = d.user_email;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_usage_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS added_rows FOR EACH STATEMENT EXECUTE FUNCTION roost_usage_added();
CREATE TRIGGER messages_usage_delete AFTER DELETE ON messages
    REFERENCING OLD TABLE AS removed_rows FOR EACH STATEMENT EXECUTE FUNCTION roost_usage_removed();
-- No path moves a message to another user's mailbox (rename keeps the user), so UPDATE
-- needs no trigger; flag changes stay free of counter updates.
