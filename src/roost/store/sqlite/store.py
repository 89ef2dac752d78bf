"""SQLite backend: one connection in WAL mode, serialised by a lock, on the caller's thread.

Durability: synchronous=FULL, so a commit is on disk before intake answers 250. Writers take the
database lock up front (BEGIN IMMEDIATE) and wait up to 10 s for another process (the admin CLI)
instead of failing at commit time with SQLITE_BUSY.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from roost.store._base import Row, Tx
from roost.store.common import ts_from_text, ts_to_text, utc_now
from roost.store.interface import AlreadyExists, StoreError
from roost.store.migrations import Migration, check_not_newer, load_migrations
from roost.store.sqlstore import SqlStore, read_schema_version

BUSY_TIMEOUT_S = 10.0


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            self._conn.executemany(sql, rows)

    def one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return list(self._conn.execute(sql, params).fetchall())


class SqliteStore(SqlStore):
    """interface.Store on a SQLite file; callable from any thread (calls are serialised)."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        migrations: Sequence[Migration] | None = None,
    ) -> None:
        super().__init__(clock)
        self._path = path
        self._lock = threading.Lock()
        self._conn = self._connect(path)
        try:
            self._migrate(list(migrations) if migrations is not None else sqlite_migrations())
        except BaseException:
            self._conn.close()
            raise

    def _connect(self, path: Path) -> sqlite3.Connection:
        try:
            # isolation_level=None: the driver never opens transactions behind our back.
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {path}: {exc}") from exc
        return conn

    # --- transactions ----------------------------------------------------------------------
    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Tx]:
        with self._lock:
            try:
                self._conn.execute(begin)
                try:
                    yield _SqliteTx(self._conn)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._commit()
            except sqlite3.Error as exc:
                if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
                    raise AlreadyExists(f"SQLite database {self._path}: {exc}") from exc
                raise StoreError(f"SQLite database {self._path}: {exc}") from exc

    def _commit(self) -> None:
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _write(self) -> AbstractContextManager[Tx]:
        return self._transaction("BEGIN IMMEDIATE")

    def _read(self) -> AbstractContextManager[Tx]:
        return self._transaction("BEGIN")

    # --- dialect ---------------------------------------------------------------------------
    def _ts_in(self, value: datetime) -> object:
        return ts_to_text(value)

    def _ts_out(self, value: Any) -> datetime:
        return ts_from_text(str(value))

    # --- migrations ------------------------------------------------------------------------
    def _migrate(self, migrations: list[Migration]) -> None:
        """Forward only, one step per transaction; the writer lock makes racing openers wait."""
        with self._read() as tx:
            check_not_newer(_version(tx), len(migrations))
        for migration in migrations:
            with self._write() as tx:
                current = _version(tx)
                check_not_newer(current, len(migrations))
                if current >= migration.version:
                    continue
                for statement in split_statements(migration.sql):
                    tx.execute(statement)
                tx.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(migration.version),),
                )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _version(tx: Tx) -> int:
    if not tx.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"):
        return 0
    return read_schema_version(tx)


def sqlite_migrations() -> list[Migration]:
    return load_migrations("roost.store.sqlite")


def split_statements(sql: str) -> list[str]:
    """sqlite3 runs one statement per execute() (executescript would commit our transaction).

    sqlite3.complete_statement decides where a statement ends, so a semicolon inside a string
    literal or trigger body does not cut it in two.
    """
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if not _only_comments(buffer):
        raise StoreError(f"migration ends with an unterminated statement: {buffer.strip()[:60]!r}")
    return [s for s in statements if not _only_comments(s)]


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting like busy_timeout would: the switch needs an exclusive lock and
    SQLite can answer "database is locked" at once, without calling the busy handler, while
    another process is creating or migrating the same new database."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
