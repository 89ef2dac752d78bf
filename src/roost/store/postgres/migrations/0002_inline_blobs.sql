-- Roost schema 2 (PostgreSQL): message bodies up to storage.inline_blob_max live here, written
-- in the same transaction as their queue rows (one commit per group-commit batch). In a cluster
-- every node shares this table, so a small body is readable wherever its queue row is handled.
-- Content-addressed like the file store: digest is the SHA-256 hex digest of data.

CREATE TABLE blobs (
    digest text PRIMARY KEY,
    size   bigint NOT NULL,
    data   bytea NOT NULL
);
