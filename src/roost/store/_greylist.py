"""Greylisting triplets (RFC 6647): one transaction decides and records each attempt.

The decision is made inside the store transaction, on a locked row, so nodes sharing the
database agree: the first node to see a triplet creates it (INSERT ... ON CONFLICT DO NOTHING
waits for a concurrent insert of the same key and then does nothing), and every node then reads
the row FOR UPDATE before changing it. On SQLite the writer lock serialises the same steps.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from roost.store._base import SqlBase, Tx
from roost.store.common import to_utc
from roost.store.interface import GreylistOutcome, GreylistTimes, StoreError

_COLUMNS = "first_seen, last_seen, passed_at, attempts"
_KEY = "client_net = ? AND sender = ? AND recipient = ?"


def _seconds(value: timedelta) -> int:
    return max(1, math.ceil(value.total_seconds()))


def decide(
    first_seen: datetime, last_seen: datetime, passed_at: datetime | None, now: datetime,
    times: GreylistTimes,
) -> tuple[GreylistOutcome, datetime, datetime | None]:  # fmt: skip
    """(outcome, new first_seen, new passed_at) for an attempt on an existing triplet."""
    if passed_at is not None:
        if now - last_seen <= times.lifetime:
            return GreylistOutcome(True, 0, "whitelisted"), first_seen, passed_at
        return GreylistOutcome(False, _seconds(times.delay), "expired"), now, None
    waited = now - first_seen
    if waited < times.delay:
        return GreylistOutcome(False, _seconds(times.delay - waited), "early"), first_seen, None
    if waited <= times.retry_window:
        return GreylistOutcome(True, 0, "retried"), first_seen, now
    # Retried after the window: the sender is treated as new and waits again.
    return GreylistOutcome(False, _seconds(times.delay), "expired"), now, None


def _insert(tx: Tx, key: tuple[str, str, str], stamp: object) -> bool:
    """Create the triplet unless it exists (a concurrent insert is waited for); True if new."""
    return (
        tx.execute(
            f"INSERT INTO greylist (client_net, sender, recipient, {_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, NULL, 1)"
            " ON CONFLICT (client_net, sender, recipient) DO NOTHING",
            (*key, stamp, stamp),
        )
        == 1
    )


class GreylistMixin(SqlBase):
    def greylist_check(
        self, client_net: str, sender: str, recipient: str, now: datetime, times: GreylistTimes
    ) -> GreylistOutcome:
        key = (client_net, sender.lower(), recipient.lower())
        now = to_utc(now)
        stamp = self._ts_in(now)
        with self._write() as tx:
            row = None
            for _ in range(2):  # a purge on another node may delete the row in between
                if _insert(tx, key, stamp):
                    return GreylistOutcome(False, _seconds(times.delay), "new")
                row = tx.one(f"SELECT {_COLUMNS} FROM greylist WHERE {_KEY}{self.for_update}", key)
                if row is not None:
                    break
            if row is None:
                raise StoreError(f"greylist triplet {key} vanished twice while being checked")
            passed_at = None if row[2] is None else self._ts_out(row[2])
            outcome, first_seen, passed_at = decide(
                self._ts_out(row[0]), self._ts_out(row[1]), passed_at, now, times
            )
            tx.execute(
                "UPDATE greylist SET first_seen = ?, last_seen = ?, passed_at = ?,"
                f" attempts = attempts + 1 WHERE {_KEY}",
                (self._ts_in(first_seen), stamp,
                 None if passed_at is None else self._ts_in(passed_at), *key),
            )  # fmt: skip
        return outcome

    def greylist_purge(self, now: datetime, times: GreylistTimes) -> int:
        """Delete triplets that can no longer pass: pending past their retry window, or
        whitelisted but unseen for longer than the lifetime. Returns how many."""
        now = to_utc(now)
        pending_before = self._ts_in(now - times.retry_window)
        passed_before = self._ts_in(now - times.lifetime)
        with self._write() as tx:
            return tx.execute(
                "DELETE FROM greylist WHERE (passed_at IS NULL AND first_seen < ?)"
                " OR (passed_at IS NOT NULL AND last_seen < ?)",
                (pending_before, passed_before),
            )
