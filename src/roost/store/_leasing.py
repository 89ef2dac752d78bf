"""Leasing queued messages to delivery workers: claim, give back untried, retry now.

A claim is a lease written into the queue row (owner, until), not a database lock held while
the worker talks to remote servers: the claiming transaction commits at once. A node that dies
leaves an expired lease behind, and the next claim anywhere takes the message over. On
PostgreSQL the candidates are read FOR UPDATE SKIP LOCKED, so nodes claiming at the same moment
each take different rows instead of waiting on one another; SQLite's writer lock (BEGIN
IMMEDIATE) already serialises claims.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from roost.store._base import Row, Tx
from roost.store._queue import QueueMixin
from roost.store.interface import NotFound, StoreError
from roost.store.types import QueueEntry, QueueState

# ACTIVE is claimable too, but only once its lease has expired (its owner crashed or hung).
_CLAIMABLE = (QueueState.INCOMING.value, QueueState.DEFERRED.value, QueueState.ACTIVE.value)
_RETRYABLE = (QueueState.INCOMING.value, QueueState.DEFERRED.value)


def check_lease(tx: Tx, queue_id: str, owner: str, for_update: str) -> Row:
    """Lock the queue row and return (state, lease_owner, attempts), or refuse: the message is
    gone or someone else holds it, so the caller's results must not be written.

    Expiry alone does not lose a lease: until another node claims the message, the late result
    is still the only one and recording it avoids delivering the same recipients twice.
    """
    row = tx.one(
        "SELECT state, lease_owner, attempts FROM queue WHERE queue_id = ?" + for_update,
        (queue_id,),
    )
    if row is None:
        raise NotFound(f"lease lost on {queue_id}: it is no longer in the queue")
    if row[0] != QueueState.ACTIVE.value or row[1] != owner:
        raise StoreError(
            f"lease lost on {queue_id}: state {row[0]}, leased to {row[1] or 'nobody'}, not {owner}"
        )
    return row


class LeasingMixin(QueueMixin):
    def claim_due(
        self, owner: str, now: datetime, limit: int, lease: timedelta
    ) -> list[QueueEntry]:
        if lease <= timedelta(0):
            raise StoreError(f"lease must be positive, not {lease}")
        if limit <= 0:
            return []
        stamp = self._ts_in(now)
        with self._write() as tx:
            ids = self._due_ids(tx, stamp, limit)
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            tx.execute(
                "UPDATE queue SET state = ?, lease_owner = ?, lease_until = ?"
                f" WHERE queue_id IN ({marks})",
                (QueueState.ACTIVE.value, owner, self._ts_in(now + lease), *ids),
            )
            return self._load_entries(
                tx, f"WHERE queue_id IN ({marks})", ids, "next_attempt, queue_id"
            )

    def _due_ids(self, tx: Tx, stamp: object, limit: int) -> list[str]:
        """Oldest due first; HOLD is not in _CLAIMABLE, so held messages are never taken."""
        rows = tx.all(
            "SELECT queue_id FROM queue WHERE state IN (?, ?, ?) AND next_attempt <= ?"
            " AND (lease_until IS NULL OR lease_until < ?)"
            " ORDER BY next_attempt, queue_id LIMIT ?" + self.skip_locked,
            (*_CLAIMABLE, stamp, stamp, limit),
        )
        return [row[0] for row in rows]

    def release_lease(self, queue_id: str, owner: str, next_attempt: datetime) -> None:
        with self._write() as tx:
            check_lease(tx, queue_id, owner, self.for_update)
            tx.execute(
                "UPDATE queue SET state = CASE WHEN attempts > 0 THEN ? ELSE ? END,"
                " next_attempt = ?, lease_owner = NULL, lease_until = NULL WHERE queue_id = ?",
                (
                    QueueState.DEFERRED.value,
                    QueueState.INCOMING.value,
                    self._ts_in(next_attempt),
                    queue_id,
                ),
            )

    def retry_now(self, queue_id: str | None, now: datetime) -> int:
        """Held and active messages are left alone: held waits for the operator, active is
        being delivered. A message already due earlier keeps its place in line."""
        stamp = self._ts_in(now)
        update = (
            "UPDATE queue SET next_attempt = CASE WHEN next_attempt > ? THEN ? ELSE next_attempt"
            " END WHERE state IN (?, ?)"
        )
        with self._write() as tx:
            if queue_id is None:
                return tx.execute(update, (stamp, stamp, *_RETRYABLE))
            params = (stamp, stamp, *_RETRYABLE, queue_id)
            changed = tx.execute(f"{update} AND queue_id = ?", params)
            if not changed and not tx.one("SELECT 1 FROM queue WHERE queue_id = ?", (queue_id,)):
                raise NotFound(f"queue entry {queue_id} does not exist")
            return changed
