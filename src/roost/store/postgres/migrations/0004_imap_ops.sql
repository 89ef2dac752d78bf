-- Roost schema 4 (PostgreSQL): what the IMAP server needs from the mail store. RFC 6154
-- special-use attributes on mailboxes; an index for CONDSTORE CHANGEDSINCE (messages by modseq);
-- tombstones of expunged UIDs for QRESYNC VANISHED (RFC 7162 §3.2.10); and the highest
-- UIDVALIDITY ever handed out, so a mailbox recreated within the same second gets a new one.

ALTER TABLE mailboxes ADD COLUMN special_use text;
-- NULL: the default for the name (types.DEFAULT_SPECIAL_USE), '' none.

CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);

CREATE TABLE expunged (
    mailbox_id bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    uid        bigint NOT NULL,
    modseq     bigint NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);

INSERT INTO meta (key, value)
    SELECT 'uidvalidity_floor', CAST(COALESCE(MAX(uidvalidity), 0) AS text) FROM mailboxes
    ON CONFLICT (key) DO NOTHING;  -- user creation may have set it (_reserve_uidvalidity)
