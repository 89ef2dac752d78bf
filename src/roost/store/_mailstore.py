"""Reads of the IMAP model: mailboxes and the messages in them, ordered by UID."""

from __future__ import annotations

from collections.abc import Sequence

from roost.store._base import Row, SqlBase, Tx, insert_values
from roost.store.common import canonical_mailbox, decode_flags, normalize_email
from roost.store.interface import NotFound
from roost.store.types import DEFAULT_SPECIAL_USE, BlobRef, MailboxInfo, StoredMessage

_MAILBOX_SELECT = (
    "SELECT m.user_email, m.name, m.uidvalidity, m.uidnext, m.highestmodseq, m.subscribed,"
    " (SELECT COUNT(*) FROM messages x WHERE x.mailbox_id = m.id), m.special_use"
    " FROM mailboxes m"
)
_MESSAGE_SELECT = (
    "SELECT uid, blob_digest, blob_size, prefix, size, internal_date, flags, modseq"
    " FROM messages WHERE mailbox_id = ?"
)


class MailMixin(SqlBase):
    def list_mailboxes(self, user: str) -> list[MailboxInfo]:
        address = normalize_email(user)
        with self._read() as tx:
            rows = tx.all(_MAILBOX_SELECT + " WHERE m.user_email = ? ORDER BY m.id", (address,))
        return [_mailbox(r) for r in rows]

    def get_mailbox(self, user: str, name: str) -> MailboxInfo | None:
        address = normalize_email(user)
        with self._read() as tx:
            row = tx.one(
                _MAILBOX_SELECT + " WHERE m.user_email = ? AND m.name = ?",
                (address, canonical_mailbox(name)),
            )
        return None if row is None else _mailbox(row)

    def list_messages(self, user: str, mailbox: str) -> list[StoredMessage]:
        """NotFound when the mailbox does not exist (an empty list means an empty mailbox)."""
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        with self._read() as tx:
            box_id = _mailbox_id(tx, address, name)
            if box_id is None:
                raise NotFound(f"mailbox {name!r} of user {address} does not exist")
            rows = tx.all(_MESSAGE_SELECT + " ORDER BY uid", (box_id,))
        return [self._message(address, name, r) for r in rows]

    def get_message(self, user: str, mailbox: str, uid: int) -> StoredMessage | None:
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        with self._read() as tx:
            box_id = _mailbox_id(tx, address, name)
            if box_id is None:
                return None
            row = tx.one(_MESSAGE_SELECT + " AND uid = ?", (box_id, uid))
        return None if row is None else self._message(address, name, row)

    def expunge_messages(self, user: str, mailbox: str, uids: Sequence[int]) -> list[BlobRef]:
        """Remove the messages with `uids` (unknown ones are ignored) in one transaction.

        The mailbox's HIGHESTMODSEQ advances once when anything was removed (RFC 7162 §3.2.10:
        an expunge is a change), and UIDNEXT is untouched, so UIDs are never reused. Returns the
        blobs that no message or queue row references any more; the caller deletes them.
        """
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        with self._write() as tx:
            row = tx.one(
                "SELECT id, highestmodseq FROM mailboxes WHERE user_email = ? AND name = ?"
                + self.for_update,
                (address, name),
            )
            if row is None:
                raise NotFound(f"mailbox {name!r} of user {address} does not exist")
            box_id = int(row[0])
            refs, modseq = expunge_rows(tx, box_id, int(row[1]), uids)
            if modseq is not None:
                tx.execute("UPDATE mailboxes SET highestmodseq = ? WHERE id = ?", (modseq, box_id))
            return [ref for ref in refs.values() if not _referenced(tx, ref.digest)]

    def _message(self, user: str, mailbox: str, r: Row) -> StoredMessage:
        return StoredMessage(
            user=user,
            mailbox=mailbox,
            uid=int(r[0]),
            blob=BlobRef(r[1], int(r[2])),
            prefix=self._bytes_out(r[3]),
            size=int(r[4]),
            internal_date=self._ts_out(r[5]),
            flags=decode_flags(r[6]),
            modseq=int(r[7]),
        )


def expunge_rows(
    tx: Tx, box_id: int, highestmodseq: int, uids: Sequence[int]
) -> tuple[dict[str, BlobRef], int | None]:
    """Delete messages by UID inside the caller's transaction, leaving tombstones.

    All removals share one new MODSEQ (highestmodseq + 1), returned for the caller to write to
    the mailbox row (None when nothing was removed: no change, no new MODSEQ). Each removed UID
    gets a tombstone (mailbox, uid, modseq) for QRESYNC VANISHED (RFC 7162 §3.2.10). Returns
    the removed messages' blobs by digest, referenced or not.
    """
    wanted = sorted({int(uid) for uid in uids})
    refs: dict[str, BlobRef] = {}
    removed: list[int] = []
    for start in range(0, len(wanted), 200):
        part = wanted[start : start + 200]
        marks = ", ".join("?" * len(part))
        params = (box_id, *part)
        before = len(removed)
        for uid, digest, size in tx.all(
            "SELECT uid, blob_digest, blob_size FROM messages"
            f" WHERE mailbox_id = ? AND uid IN ({marks})",
            params,
        ):
            removed.append(int(uid))
            refs[digest] = BlobRef(digest, int(size))
        if len(removed) > before:
            tx.execute(f"DELETE FROM messages WHERE mailbox_id = ? AND uid IN ({marks})", params)
    if not removed:
        return refs, None
    modseq = highestmodseq + 1
    insert_values(
        tx,
        "INSERT INTO expunged (mailbox_id, uid, modseq)",
        [(box_id, uid, modseq) for uid in removed],
    )
    return refs, modseq


def _mailbox_id(tx: Tx, user: str, name: str) -> int | None:
    row = tx.one("SELECT id FROM mailboxes WHERE user_email = ? AND name = ?", (user, name))
    return None if row is None else int(row[0])


def _referenced(tx: Tx, digest: str) -> bool:
    return bool(
        tx.one("SELECT 1 FROM messages WHERE blob_digest = ? LIMIT 1", (digest,))
        or tx.one("SELECT 1 FROM queue WHERE blob_digest = ? LIMIT 1", (digest,))
    )


def _mailbox(r: Row) -> MailboxInfo:
    return MailboxInfo(
        user=r[0],
        name=r[1],
        uidvalidity=int(r[2]),
        uidnext=int(r[3]),
        highestmodseq=int(r[4]),
        messages=int(r[6]),
        subscribed=bool(r[5]),
        # NULL: the default for the name; '' none (see migration 0004)
        special_use=DEFAULT_SPECIAL_USE.get(r[1]) if r[7] is None else (r[7] or None),
    )
