-- Roost schema 2 (SQLite): message bodies up to storage.inline_blob_max live here, written in
-- the same transaction as their queue rows, so a group-commit batch costs one WAL fsync instead
-- of a file create, rename and about three fsyncs per message. Larger bodies stay in blob_dir.
-- Content-addressed like the file store: digest is the SHA-256 hex digest of data.

CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size   INTEGER NOT NULL,
    data   BLOB NOT NULL
);
