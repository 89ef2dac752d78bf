-- Roost schema 5 (SQLite): what the IMAP server reads on every FETCH and what quota needs.
-- message_structures holds ENVELOPE, BODY and BODYSTRUCTURE in wire form, computed once per
-- blob (keyed by its digest, shared by every copy) and removed with the blob. users get a
-- per-user STORAGE limit (RFC 9208; NULL = the server default) and counters of the octets and
-- messages in all their mailboxes, kept by triggers on messages so that every path that adds or
-- removes a message (delivery, append, copy, move, expunge, delete) updates them in its own
-- transaction.

CREATE TABLE message_structures (
    digest        TEXT PRIMARY KEY,
    envelope      BLOB NOT NULL,
    body          BLOB NOT NULL,
    bodystructure BLOB NOT NULL
);

ALTER TABLE users ADD COLUMN quota_limit INTEGER;
ALTER TABLE users ADD COLUMN used_octets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN used_messages INTEGER NOT NULL DEFAULT 0;

UPDATE users SET
    used_octets = (SELECT COALESCE(SUM(x.size), 0) FROM messages x
                   JOIN mailboxes m ON m.id = x.mailbox_id WHERE m.user_email = users.email),
    used_messages = (SELECT COUNT(*) FROM messages x
                     JOIN mailboxes m ON m.id = x.mailbox_id WHERE m.user_email = users.email);

CREATE TRIGGER messages_usage_insert AFTER INSERT ON messages
BEGIN
    UPDATE users SET used_octets = used_octets + NEW.size, used_messages = used_messages + 1
    WHERE email = (SELECT user_email FROM mailboxes WHERE id = NEW.mailbox_id);
END;

CREATE TRIGGER messages_usage_delete AFTER DELETE ON messages
BEGIN
    UPDATE users SET used_octets = used_octets - OLD.size, used_messages = used_messages - 1
    WHERE email = (SELECT user_email FROM mailboxes WHERE id = OLD.mailbox_id);
END;
-- No path moves a message to another user's mailbox (rename keeps the user), so UPDATE
-- needs no trigger; flag changes stay free of counter updates.
