"""Inline message bodies: the `blobs` table, the database tier of the tiered blob store.

Small bodies live in the metadata database so that intake's group commit writes them in the
same transaction as their queue rows: one WAL fsync per batch instead of a file create, rename
and about three fsyncs per message. Rows are content-addressed (SHA-256 hex digest), so inserting
a body that is already there is a no-op, in one batch or across batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from roost.store._base import SqlBase, Tx, insert_values
from roost.store.blobs.fs import check_digest
from roost.store.interface import StoreError
from roost.store.types import BlobRef

# Both dialects (SQLite >= 3.24, PostgreSQL >= 9.5) accept this upsert form.
_INSERT_HEAD = "INSERT INTO blobs (digest, size, data)"
_INSERT_TAIL = " ON CONFLICT (digest) DO NOTHING"


def blob_row(ref: BlobRef, data: bytes) -> tuple[str, int, bytes]:
    """The row for one body, refused when it cannot be what `ref` names.

    The size check catches a caller that pairs a body with the wrong ref; since the table
    deduplicates by digest, such a row would be served to every later message with that digest.
    """
    check_digest(ref.digest)
    if len(data) != ref.size:
        raise StoreError(f"blob {ref.digest} has {len(data)} bytes, its ref says {ref.size}")
    return (ref.digest, ref.size, data)


def insert_blobs(tx: Tx, rows: Iterable[tuple[str, int, bytes]]) -> None:
    """Insert inline bodies inside the caller's transaction; duplicates are sent only once."""
    unique = {row[0]: row for row in rows}
    if unique:
        insert_values(tx, _INSERT_HEAD, list(unique.values()), _INSERT_TAIL)


class BlobRowsMixin(SqlBase):
    """Store.put_blob / get_blob / delete_blob: each its own transaction."""

    def put_blob(self, ref: BlobRef, data: bytes) -> None:
        row = blob_row(ref, data)
        with self._write() as tx:
            insert_blobs(tx, [row])

    def get_blob(self, digest: str) -> bytes | None:
        with self._read() as tx:
            row = tx.one("SELECT data FROM blobs WHERE digest = ?", (check_digest(digest),))
        return None if row is None else self._bytes_out(row[0])

    def get_blobs(self, digests: Sequence[str]) -> dict[str, bytes]:
        wanted = sorted({check_digest(d) for d in digests})
        found: dict[str, bytes] = {}
        with self._read() as tx:
            for i in range(0, len(wanted), 200):
                part = wanted[i : i + 200]
                marks = ", ".join("?" * len(part))
                sql = f"SELECT digest, data FROM blobs WHERE digest IN ({marks})"
                for row in tx.all(sql, part):
                    found[str(row[0])] = self._bytes_out(row[1])
        return found

    def get_blob_heads(self, digests: Sequence[str], length: int) -> dict[str, bytes]:
        """The first `length` octets of each inline body found: enough for the header of
        most messages, a fraction of the bytes when IMAP asks only for header fields."""
        wanted = sorted({check_digest(d) for d in digests})
        found: dict[str, bytes] = {}
        with self._read() as tx:
            for i in range(0, len(wanted), 200):
                part = wanted[i : i + 200]
                marks = ", ".join("?" * len(part))
                sql = f"SELECT digest, substr(data, 1, ?) FROM blobs WHERE digest IN ({marks})"
                for row in tx.all(sql, [length, *part]):
                    # substr of an empty body is NULL on some engines: it is still a body
                    found[str(row[0])] = b"" if row[1] is None else self._bytes_out(row[1])
        return found

    def delete_blob(self, digest: str) -> None:
        """Unconditional: the caller has checked `blob_in_use` (as for a blob file). Every
        unreferenced blob ends here (TieredBlobStore.delete), so its structure row goes too."""
        with self._write() as tx:
            tx.execute("DELETE FROM blobs WHERE digest = ?", (check_digest(digest),))
            tx.execute("DELETE FROM message_structures WHERE digest = ?", (digest,))
