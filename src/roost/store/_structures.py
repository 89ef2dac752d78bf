"""Message structures: ENVELOPE, BODY and BODYSTRUCTURE in wire form, one row per blob digest.

Parsing a message for FETCH costs far more than reading three short byte strings, so the wire
form is computed once (at delivery, APPEND or import) and shared by every copy of the blob. The
row goes when the blob goes (`delete_blob`); a missing row only means the reader computes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from roost.store._base import SqlBase, Tx, insert_values
from roost.store.blobs.fs import check_digest
from roost.store.types import MessageStructure

_INSERT_HEAD = (
    "INSERT INTO message_structures (digest, envelope, body, bodystructure, header, header_fold)"
)
_INSERT_TAIL = " ON CONFLICT (digest) DO NOTHING"
_CHUNK = 200


def header_fold(header: bytes | None) -> str | None:
    """The header lower-cased for the SEARCH prefilter (`ImapReadsMixin.header_rows`): only a
    non-empty ASCII block without encoded words or NUL, where a word can be found as octets."""
    if not header or not header.isascii() or b"=?" in header or b"\x00" in header:
        return None
    return header.decode("ascii").lower()


def insert_structures(tx: Tx, items: Iterable[tuple[str, MessageStructure]]) -> None:
    """Inside the caller's transaction; a digest already stored (or repeated) is a no-op."""
    unique = {
        check_digest(d): (d, s.envelope, s.body, s.bodystructure, s.header, header_fold(s.header))
        for d, s in items
    }
    if unique:
        insert_values(tx, _INSERT_HEAD, list(unique.values()), _INSERT_TAIL)


class StructuresMixin(SqlBase):
    def get_structures(self, digests: Sequence[str]) -> dict[str, MessageStructure]:
        wanted = sorted(set(digests))
        found: dict[str, MessageStructure] = {}
        with self._read() as tx:
            for start in range(0, len(wanted), _CHUNK):
                part = wanted[start : start + _CHUNK]
                marks = ", ".join("?" * len(part))
                for digest, env, body, bs, head in tx.all(
                    "SELECT digest, envelope, body, bodystructure, header FROM message_structures"
                    f" WHERE digest IN ({marks})",
                    part,
                ):
                    found[str(digest)] = MessageStructure(
                        self._bytes_out(env), self._bytes_out(body), self._bytes_out(bs),
                        None if head is None else self._bytes_out(head),
                    )  # fmt: skip
        return found

    def put_structures(self, items: Sequence[tuple[str, MessageStructure]]) -> None:
        if not items:
            return
        with self._write() as tx:
            insert_structures(tx, items)

    def put_headers(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Fill the header of structure rows stored without one (before schema 8)."""
        if not items:
            return
        with self._write() as tx:
            for digest, header in items:
                tx.execute(
                    "UPDATE message_structures SET header = ?, header_fold = ?"
                    " WHERE digest = ? AND header IS NULL",
                    (header, header_fold(header), check_digest(digest)),
                )
