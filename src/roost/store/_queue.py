"""The queue: accepted messages and their recipients, plus local delivery at intake.

`enqueue_batch` is intake's group commit: every message of the batch, its inline body (if any),
its recipients and its local copies land in one transaction, so the 250 replies sent after the
commit are all true, and a batch of small messages costs one database commit and nothing else.
A message whose recipients were all delivered locally leaves no queue rows behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from roost.store._base import Row, Tx, insert_values
from roost.store._blobrows import blob_row, insert_blobs
from roost.store._delivery import Copy, DeliveryMixin, _Inbox
from roost.store._structures import insert_structures
from roost.store.common import (
    INBOX,
    JUNK,
    Delivery,
    missing_user_reply,
    normalize_email,
    plan_deliveries,
    plan_for_new,
)
from roost.store.interface import AlreadyExists, NotFound, StoreError
from roost.store.types import (
    BlobRef,
    NewMessage,
    NewRecipient,
    QueueEntry,
    QueueRecipient,
    QueueState,
    RcptStatus,
)

_QUEUE_COLUMNS = (
    "queue_id, state, sender, blob_digest, blob_size, prefix, received_at, next_attempt,"
    " attempts, client_ip, helo, auth_user, body_type, smtputf8, ret, envid"
)
# Reads also return warned (schema 3); inserts leave it at its default (no delay DSN yet).
_ENTRY_COLUMNS = _QUEUE_COLUMNS + ", warned"
_RCPT_COLUMNS = "queue_id, idx, address, status, deliver_to, orcpt, notify, last_reply, updated_at"


def _delivered_reply(user: str, mailbox: str, uid: int) -> str:
    return f"delivered to {user} {mailbox} uid {uid}"


class QueueMixin(DeliveryMixin):
    # --- intake ----------------------------------------------------------------------------
    def enqueue_batch(self, messages: Sequence[NewMessage]) -> None:
        for msg in messages:
            if not msg.recipients:
                raise StoreError(f"message {msg.queue_id} has no recipients; nothing to queue")
        plans = [plan_for_new(msg) for msg in messages]
        bodies = [blob_row(m.blob, m.body) for m in messages if m.body is not None]
        now = self.now()
        with self._write() as tx:
            insert_blobs(tx, bodies)  # before the rows that reference them
            insert_structures(tx, [(m.blob.digest, m.structure) for m in messages if m.structure])
            targets = [(d.user, INBOX) for plan in plans for d in plan]
            targets += [(d.user, JUNK) for m, p in zip(messages, plans, strict=True) if m.junk
                        for d in p]  # fmt: skip
            boxes = self._lock_mailboxes(tx, targets)
            entries: list[tuple[NewMessage, _Replies]] = []
            for msg, plan in zip(messages, plans, strict=True):
                folder = JUNK if msg.junk else INBOX
                copy = Copy(msg.blob, msg.received_at)
                replies = self._deliver(boxes, plan, copy, folder)
                if len(replies.delivered) < len(msg.recipients):
                    entries.append((msg, replies))
            self._insert_entries(tx, entries, now)
            self._save_inboxes(tx, boxes.values())

    def _deliver(
        self,
        boxes: Mapping[tuple[str, str], _Inbox],
        plan: list[Delivery],
        copy: Copy,
        folder: str = INBOX,
    ) -> _Replies:
        """Append one copy per planned user to `folder`, or to INBOX when the user has no such
        mailbox (a quarantined message whose user deleted Junk still arrives)."""
        replies = _Replies()
        for delivery in plan:
            name = folder
            box = boxes.get((delivery.user, folder))
            if box is None:
                name, box = INBOX, boxes.get((delivery.user, INBOX))
            if box is None:  # never lose mail: the recipient stays pending, the reason recorded
                replies.add(delivery.indexes, missing_user_reply(delivery.user), delivered=False)
                continue
            uid = self._append(box, delivery, copy)
            reply = _delivered_reply(delivery.user, name, uid)
            replies.add(delivery.indexes, reply, delivered=True)
        return replies

    def _insert_entries(
        self, tx: Tx, entries: Sequence[tuple[NewMessage, _Replies]], now: datetime
    ) -> None:
        """Queue and recipient rows of a whole batch, a few statements in all."""
        if not entries:
            return
        ids = [msg.queue_id for msg, _ in entries]
        if len(set(ids)) != len(ids):
            raise AlreadyExists(f"queue ids repeated in one batch: {sorted(ids)}")
        marks = ", ".join("?" * len(ids))
        taken = tx.one(f"SELECT queue_id FROM queue WHERE queue_id IN ({marks})", ids)
        if taken:
            raise AlreadyExists(f"queue id {taken[0]} already exists")
        stamp = self._ts_in(now)
        insert_values(tx, f"INSERT INTO queue ({_QUEUE_COLUMNS})",
                      [self._queue_row(msg) for msg, _ in entries])  # fmt: skip
        insert_values(
            tx,
            "INSERT INTO queue_recipients (queue_id, idx, address, status, deliver_to,"
            " delivery_prefix, orcpt, notify, last_reply, updated_at)",
            [
                _rcpt_row(msg.queue_id, idx, rcpt, replies, stamp)
                for msg, replies in entries
                for idx, rcpt in enumerate(msg.recipients)
            ],
        )

    def _queue_row(self, msg: NewMessage) -> tuple[object, ...]:
        state = QueueState.HOLD if msg.hold else QueueState.INCOMING
        received = self._ts_in(msg.received_at)
        return (
            msg.queue_id, state.value, msg.sender, msg.blob.digest, msg.blob.size, msg.prefix,
            received, received, 0, msg.client_ip, msg.helo, msg.auth_user, msg.body_type,
            msg.smtputf8, msg.ret, msg.envid,
        )  # fmt: skip

    # --- operator actions ------------------------------------------------------------------
    def hold(self, queue_id: str) -> None:
        with self._write() as tx:
            changed = tx.execute(
                "UPDATE queue SET state = ?, lease_owner = NULL, lease_until = NULL"
                " WHERE queue_id = ?",
                (QueueState.HOLD.value, queue_id),
            )
            if not changed:
                raise NotFound(f"queue entry {queue_id} does not exist")

    def release(self, queue_id: str) -> None:
        """Back to incoming and due now; local recipients are delivered right here.

        A held message was never delivered locally, and the scheduler only handles remote
        recipients, so release is where its local copies are made (same transaction).
        """
        now = self.now()
        with self._write() as tx:
            row = tx.one(
                "SELECT state, prefix, blob_digest, blob_size, received_at FROM queue"
                " WHERE queue_id = ?" + self.for_update,
                (queue_id,),
            )
            if row is None:
                raise NotFound(f"queue entry {queue_id} does not exist")
            if row[0] != QueueState.HOLD.value:
                raise StoreError(f"queue entry {queue_id} is not on hold (state {row[0]})")
            copy = Copy(BlobRef(row[2], int(row[3])), self._ts_out(row[4]))
            self._release_locals(tx, queue_id, self._bytes_out(row[1]), copy, now)

    def _release_locals(
        self, tx: Tx, queue_id: str, prefix: bytes, copy: Copy, now: datetime
    ) -> None:
        pending = {
            int(r[0]): NewRecipient(r[1], r[2], self._bytes_out(r[3]))
            for r in tx.all(
                "SELECT idx, address, deliver_to, delivery_prefix FROM queue_recipients"
                " WHERE queue_id = ? AND status = ? AND deliver_to IS NOT NULL",
                (queue_id, RcptStatus.PENDING.value),
            )
        }
        plan = plan_deliveries(prefix, pending)
        boxes = self._lock_mailboxes(tx, ((d.user, INBOX) for d in plan))
        replies = self._deliver(boxes, plan, copy)
        self._save_inboxes(tx, boxes.values())
        self._record_replies(tx, queue_id, replies, now)
        left = tx.one(
            "SELECT COUNT(*) FROM queue_recipients WHERE queue_id = ? AND status <> ?",
            (queue_id, RcptStatus.DELIVERED.value),
        )
        if left is not None and int(left[0]) == 0:
            delete_rows(tx, queue_id)
            return
        tx.execute(
            "UPDATE queue SET state = ?, next_attempt = ?, lease_owner = NULL, lease_until = NULL"
            " WHERE queue_id = ?",
            (QueueState.INCOMING.value, self._ts_in(now), queue_id),
        )

    def _record_replies(self, tx: Tx, queue_id: str, replies: _Replies, now: datetime) -> None:
        tx.executemany(
            "UPDATE queue_recipients SET status = ?, last_reply = ?, updated_at = ?"
            " WHERE queue_id = ? AND idx = ?",
            [
                (replies.status(idx).value, reply, self._ts_in(now), queue_id, idx)
                for idx, reply in replies.text.items()
            ],
        )

    def delete_queue_entry(self, queue_id: str) -> BlobRef:
        """The caller deletes the blob file afterwards if `blob_in_use` says nobody needs it."""
        with self._write() as tx:
            row = tx.one("SELECT blob_digest, blob_size FROM queue WHERE queue_id = ?", (queue_id,))
            if row is None:
                raise NotFound(f"queue entry {queue_id} does not exist")
            delete_rows(tx, queue_id)
        return BlobRef(row[0], int(row[1]))

    def blob_in_use(self, ref: BlobRef) -> bool:
        with self._read() as tx:
            return bool(
                tx.one("SELECT 1 FROM queue WHERE blob_digest = ? LIMIT 1", (ref.digest,))
                or tx.one("SELECT 1 FROM messages WHERE blob_digest = ? LIMIT 1", (ref.digest,))
            )

    # --- reads -----------------------------------------------------------------------------
    def list_queue(self) -> list[QueueEntry]:
        with self._read() as tx:
            return self._load_entries(tx, "", (), "received_at, queue_id")

    def get_queue_entry(self, queue_id: str) -> QueueEntry | None:
        with self._read() as tx:
            found = self._load_entries(tx, "WHERE queue_id = ?", (queue_id,), "queue_id")
        return found[0] if found else None

    def _load_entries(
        self, tx: Tx, where: str, params: Sequence[object], order: str
    ) -> list[QueueEntry]:
        """Queue rows matching `where` (a constant fragment) with all their recipients.

        Two statements whatever the number of entries: the recipients are selected by the same
        `where` on queue (as a subquery), inside the caller's transaction, so both agree.
        """
        rows = tx.all(f"SELECT {_ENTRY_COLUMNS} FROM queue {where} ORDER BY {order}", params)
        if not rows:
            return []
        rcpts = tx.all(
            f"SELECT {_RCPT_COLUMNS} FROM queue_recipients"
            f" WHERE queue_id IN (SELECT queue_id FROM queue {where}) ORDER BY queue_id, idx",
            params,
        )
        grouped: dict[str, list[QueueRecipient]] = {}
        for r in rcpts:
            grouped.setdefault(r[0], []).append(self._recipient(r))
        return [self._entry(row, grouped.get(row[0], [])) for row in rows]

    def _entry(self, row: Row, recipients: list[QueueRecipient]) -> QueueEntry:
        return QueueEntry(
            queue_id=row[0],
            state=QueueState(row[1]),
            sender=row[2],
            blob=BlobRef(row[3], int(row[4])),
            prefix=self._bytes_out(row[5]),
            received_at=self._ts_out(row[6]),
            next_attempt=self._ts_out(row[7]),
            attempts=int(row[8]),
            client_ip=row[9],
            helo=row[10],
            auth_user=row[11],
            body_type=row[12],
            smtputf8=bool(row[13]),
            ret=row[14],
            envid=row[15],
            recipients=tuple(recipients),
            warned=bool(row[16]),
        )

    def _recipient(self, r: Row) -> QueueRecipient:
        return QueueRecipient(
            idx=int(r[1]),
            address=r[2],
            status=RcptStatus(r[3]),
            deliver_to=r[4],
            orcpt=r[5],
            notify=r[6],
            last_reply=r[7],
            updated_at=self._ts_out(r[8]),
        )


class _Replies:
    """Per-recipient outcome of local delivery: which indexes were delivered and the reply text."""

    def __init__(self) -> None:
        self.delivered: set[int] = set()
        self.text: dict[int, str] = {}

    def add(self, indexes: Sequence[int], reply: str, *, delivered: bool) -> None:
        for idx in indexes:
            self.text[idx] = reply
            if delivered:
                self.delivered.add(idx)

    def status(self, idx: int) -> RcptStatus:
        return RcptStatus.DELIVERED if idx in self.delivered else RcptStatus.PENDING


def _rcpt_row(
    queue_id: str, idx: int, rcpt: NewRecipient, replies: _Replies, now: object
) -> tuple[object, ...]:
    deliver_to = None if rcpt.deliver_to is None else normalize_email(rcpt.deliver_to)
    return (
        queue_id, idx, rcpt.address, replies.status(idx).value, deliver_to,
        rcpt.delivery_prefix, rcpt.orcpt, rcpt.notify, replies.text.get(idx), now,
    )  # fmt: skip


def delete_rows(tx: Tx, queue_id: str) -> None:
    """Everything the queue holds about a message; its blob is the caller's (blob_in_use)."""
    tx.execute("DELETE FROM delivery_attempts WHERE queue_id = ?", (queue_id,))
    tx.execute("DELETE FROM queue_recipients WHERE queue_id = ?", (queue_id,))
    tx.execute("DELETE FROM queue WHERE queue_id = ?", (queue_id,))
