-- Roost schema 8 (SQLite): the top-level header block of each blob, kept with its structure so
-- FETCH BODY.PEEK[HEADER.FIELDS (...)] and header SEARCH keys over a whole mailbox read one
-- column instead of the message bodies. NULL: not computed yet (a row from before this step;
-- readers fill it in); empty: longer than the cap (16 KiB), read the body instead.

ALTER TABLE message_structures ADD COLUMN header BLOB;
-- header_fold: the same block lower-cased when it is ASCII without encoded words or NUL, else
-- NULL: a header SEARCH asks the database which blocks lack its word (a prefilter only).
ALTER TABLE message_structures ADD COLUMN header_fold TEXT;
