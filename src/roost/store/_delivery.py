"""Appending messages to local mailboxes (INBOX, or Junk for quarantined mail) inside the
caller's transaction.

UIDs come from the mailbox row, which is locked first (`FOR UPDATE` on PostgreSQL, the writer
lock on SQLite) so two nodes delivering to one user never hand out the same UID. Locks are taken
in sorted (user, mailbox) order, so two batches touching the same users cannot deadlock each
other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from roost.store._base import SqlBase, Tx, insert_values
from roost.store.common import Delivery
from roost.store.types import BlobRef


@dataclass(slots=True)
class _Inbox:
    """A locked INBOX row; counters advance in memory and are written back once."""

    id: int
    uidnext: int
    highestmodseq: int
    rows: list[tuple[object, ...]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Copy:
    """What is appended: the body blob, Roost's prefix lines and the INTERNALDATE."""

    blob: BlobRef
    internal_date: datetime


class DeliveryMixin(SqlBase):
    def _lock_mailboxes(
        self, tx: Tx, targets: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], _Inbox]:
        """(user, mailbox) rows locked in sorted order; missing ones (a user removed
        meanwhile, a Junk folder deleted) are absent from the result."""
        boxes: dict[tuple[str, str], _Inbox] = {}
        for user, name in sorted(set(targets)):
            row = tx.one(
                "SELECT id, uidnext, highestmodseq FROM mailboxes"
                " WHERE user_email = ? AND name = ?" + self.for_update,
                (user, name),
            )
            if row is not None:
                boxes[(user, name)] = _Inbox(int(row[0]), int(row[1]), int(row[2]))
        return boxes

    def _append(self, inbox: _Inbox, delivery: Delivery, copy: Copy) -> int:
        """Queue one message row for `inbox`; returns its UID."""
        uid = inbox.uidnext
        inbox.uidnext += 1
        inbox.highestmodseq += 1  # RFC 7162 §3.1.1: every change gets a higher MODSEQ
        inbox.rows.append(
            (
                inbox.id,
                uid,
                copy.blob.digest,
                copy.blob.size,
                delivery.prefix,
                len(delivery.prefix) + copy.blob.size,
                self._ts_in(copy.internal_date),
                "",
                inbox.highestmodseq,
            )
        )
        return uid

    @staticmethod
    def _save_inboxes(tx: Tx, inboxes: Iterable[_Inbox]) -> None:
        for inbox in inboxes:
            if not inbox.rows:
                continue
            insert_values(
                tx,
                "INSERT INTO messages (mailbox_id, uid, blob_digest, blob_size, prefix, size,"
                " internal_date, flags, modseq)",
                inbox.rows,
            )
            tx.execute(
                "UPDATE mailboxes SET uidnext = ?, highestmodseq = ? WHERE id = ?",
                (inbox.uidnext, inbox.highestmodseq, inbox.id),
            )
            inbox.rows.clear()
