"""What the shared SQL code needs from a backend: transactions and a few dialect conversions.

The Store methods are written once (directory, queue, mail store mixins) against this small
surface; each backend supplies the connection, the locking and the type conversions. SQL text is
written with `?` placeholders and the PostgreSQL backend translates them.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from roost.store.common import utc_now

Row = tuple[Any, ...]


class Tx(Protocol):
    """One open transaction; commits when its context exits normally, rolls back otherwise."""

    def execute(self, sql: str, params: Sequence[object] = ()) -> int: ...  # rowcount
    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...
    def one(self, sql: str, params: Sequence[object] = ()) -> Row | None: ...
    def all(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...


def insert_values(
    tx: Tx, head: str, rows: Sequence[Sequence[object]], tail: str = "", chunk: int = 200
) -> None:
    """Insert many rows with one multi-row statement per `chunk` rows.

    One statement per batch rather than one per row: each statement releases and retakes the
    GIL, and under load every retake waits for the event loop thread, which made group commits
    slow (bench/README.md). The SQL is built from constant fragments; values are always bound.
    """
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        one = "(" + ", ".join("?" * len(part[0])) + ")"
        values = [value for row in part for value in row]
        tx.execute(f"{head} VALUES {', '.join([one] * len(part))}{tail}", values)


def uid_runs(uids: list[int]) -> list[tuple[int, int]]:
    """Sorted UIDs as (first, last) runs of consecutive values: a run is read with BETWEEN, the
    usual "1:*" in one query."""
    runs: list[tuple[int, int]] = []
    for uid in uids:
        if runs and uid == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], uid)
        else:
            runs.append((uid, uid))
    return runs


class SqlBase(abc.ABC):
    """Transactions, clock and dialect hooks; subclasses are the two backends."""

    #: appended to SELECTs that must lock the rows they read (PostgreSQL); SQLite's writer
    #: transaction (BEGIN IMMEDIATE) already excludes every other writer.
    for_update: str = ""
    #: appended to a SELECT that picks rows to claim (PostgreSQL: FOR UPDATE SKIP LOCKED), so
    #: concurrent claimers each take different rows instead of queueing behind one another.
    skip_locked: str = ""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    def _reserve_uidvalidity(self, tx: Tx, count: int = 1) -> int:
        """The first of `count` consecutive UIDVALIDITY values, each higher than every one handed
        out before in this store (RFC 9051 §2.3.1.1: a name created again must not get an old
        value, or a client's cache, and the IMAP memo, would mix two mailboxes), and the creation
        time in seconds when that is higher still."""
        # The row exists before it is locked, so two first-ever creations cannot both insert it.
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('uidvalidity_floor', '0')"
            " ON CONFLICT (key) DO NOTHING"
        )
        row = tx.one("SELECT value FROM meta WHERE key = 'uidvalidity_floor'" + self.for_update)
        top = tx.one("SELECT MAX(uidvalidity) FROM mailboxes")
        floor = max(int(row[0]) if row else 0, int(top[0]) if top and top[0] is not None else 0)
        first = max(int(self.now().timestamp()), floor + 1)
        last = str(first + count - 1)
        tx.execute("UPDATE meta SET value = ? WHERE key = 'uidvalidity_floor'", (last,))
        return first

    @abc.abstractmethod
    def _write(self) -> AbstractContextManager[Tx]:
        """A read-write transaction that holds the writer lock from its first statement."""

    @abc.abstractmethod
    def _read(self) -> AbstractContextManager[Tx]:
        """A read-only transaction: one consistent snapshot for everything it reads."""

    @abc.abstractmethod
    def _ts_in(self, value: datetime) -> object:
        """A datetime as the database stores it (UTC)."""

    @abc.abstractmethod
    def _ts_out(self, value: Any) -> datetime:
        """A stored timestamp as a timezone-aware UTC datetime."""

    @staticmethod
    def _bytes_out(value: Any) -> bytes:
        return bytes(value)

    @abc.abstractmethod
    def close(self) -> None: ...
