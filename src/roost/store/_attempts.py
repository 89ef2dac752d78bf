"""Writing back what a delivery attempt decided, and the attempt log `roost queue show` prints.

`record_attempt` is the only way a leased message's recipients change after intake, and it
writes only while the caller still holds the lease: otherwise another node may have taken the
message over and its results would be overwritten by stale ones (or a recipient delivered twice
would be logged once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from roost.store._base import Row, SqlBase, Tx, insert_values
from roost.store._leasing import check_lease
from roost.store._queue import delete_rows
from roost.store.interface import StoreError
from roost.store.types import AttemptLog, AttemptResult, QueueState, RcptOutcome, RcptStatus

# Recipients still to be tried: while any is left the message stays queued.
_OPEN = frozenset({RcptStatus.PENDING.value, RcptStatus.DEFERRED.value})
_ATTEMPT_COLUMNS = "queue_id, at, recipients, mx_host, ip, port, tls, reply, status"


def encode_indexes(indexes: Sequence[int]) -> str:
    """Recipient indexes as "0,2": readable in the database, and one column for any number."""
    return ",".join(str(int(idx)) for idx in indexes)


def decode_indexes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)


class AttemptsMixin(SqlBase):
    def record_attempt(self, queue_id: str, owner: str, result: AttemptResult) -> None:
        now = self.now()
        with self._write() as tx:
            self._record_one(tx, queue_id, owner, result, now)

    def record_attempts(
        self, owner: str, items: Sequence[tuple[str, AttemptResult]]
    ) -> list[StoreError | None]:
        """Many messages' outcomes in ONE transaction (group commit for the delivery side).

        Each message is applied inside its own savepoint, so one whose lease was lost (or whose
        outcomes are inconsistent) is rolled back alone and reported in its slot of the result.
        """
        now = self.now()
        errors: list[StoreError | None] = []
        with self._write() as tx:
            for queue_id, result in items:
                tx.execute("SAVEPOINT roost_record")
                try:
                    self._record_one(tx, queue_id, owner, result, now)
                except StoreError as exc:
                    tx.execute("ROLLBACK TO SAVEPOINT roost_record")
                    errors.append(exc)
                else:
                    errors.append(None)
                tx.execute("RELEASE SAVEPOINT roost_record")
        return errors

    def _record_one(
        self, tx: Tx, queue_id: str, owner: str, result: AttemptResult, now: datetime
    ) -> None:
        check_lease(tx, queue_id, owner, self.for_update)
        statuses = self._apply_outcomes(tx, queue_id, result.outcomes, now)
        self._log_attempts(tx, queue_id, result.attempts)
        if _OPEN.isdisjoint(statuses.values()):
            delete_rows(tx, queue_id)  # done; the blob is the caller's (blob_in_use)
            return
        self._defer(tx, queue_id, result)

    def _apply_outcomes(
        self, tx: Tx, queue_id: str, outcomes: Sequence[RcptOutcome], now: datetime
    ) -> Mapping[int, str]:
        """Write each outcome; returns every recipient's status afterwards (idx -> status).

        An index the message does not have is refused: it means the caller mixed up messages.
        """
        statuses = {
            int(row[0]): str(row[1])
            for row in tx.all(
                "SELECT idx, status FROM queue_recipients WHERE queue_id = ?", (queue_id,)
            )
        }
        unknown = sorted({o.idx for o in outcomes} - statuses.keys())
        if unknown:
            raise StoreError(f"queue entry {queue_id} has no recipient(s) {unknown}")
        stamp = self._ts_in(now)
        tx.executemany(
            "UPDATE queue_recipients SET status = ?, last_reply = ?, updated_at = ?"
            " WHERE queue_id = ? AND idx = ?",
            [(o.status.value, o.reply, stamp, queue_id, o.idx) for o in outcomes],
        )
        statuses.update((o.idx, o.status.value) for o in outcomes)
        return statuses

    def _log_attempts(self, tx: Tx, queue_id: str, attempts: Sequence[AttemptLog]) -> None:
        strays = {a.queue_id for a in attempts} - {queue_id}
        if strays:
            raise StoreError(f"attempt logs for {sorted(strays)} given with {queue_id}")
        if attempts:
            insert_values(
                tx,
                f"INSERT INTO delivery_attempts ({_ATTEMPT_COLUMNS})",
                [self._attempt_row(a) for a in attempts],
            )

    def _attempt_row(self, a: AttemptLog) -> tuple[object, ...]:
        return (
            a.queue_id, self._ts_in(a.at), encode_indexes(a.recipients), a.mx_host, a.ip,
            a.port, a.tls, a.reply, a.status.value,
        )  # fmt: skip

    def _defer(self, tx: Tx, queue_id: str, result: AttemptResult) -> None:
        """Back to DEFERRED with the lease cleared; `warned` is sticky once a delay DSN went."""
        if result.next_attempt is None:
            raise StoreError(f"queue entry {queue_id} has recipients left but no next_attempt")
        tx.execute(
            "UPDATE queue SET state = ?, next_attempt = ?, attempts = attempts + 1,"
            " warned = (warned OR ?), lease_owner = NULL, lease_until = NULL WHERE queue_id = ?",
            (QueueState.DEFERRED.value, self._ts_in(result.next_attempt), result.warned, queue_id),
        )

    def list_attempts(self, queue_id: str) -> list[AttemptLog]:
        with self._read() as tx:
            rows = tx.all(
                f"SELECT {_ATTEMPT_COLUMNS} FROM delivery_attempts WHERE queue_id = ?"
                " ORDER BY at, id",
                (queue_id,),
            )
        return [self._attempt(row) for row in rows]

    def _attempt(self, row: Row) -> AttemptLog:
        return AttemptLog(
            queue_id=row[0],
            at=self._ts_out(row[1]),
            recipients=decode_indexes(row[2]),
            mx_host=row[3],
            ip=row[4],
            port=int(row[5]),
            tls=row[6],
            reply=row[7],
            status=RcptStatus(row[8]),
        )
