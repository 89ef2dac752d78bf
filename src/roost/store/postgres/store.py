"""PostgreSQL backend (psycopg 3, sync): for clusters, where several nodes share one database.

One connection per store, serialised by a lock; every Store method is one transaction. Rows
that hand out numbers (mailbox UIDs) are locked with SELECT ... FOR UPDATE, so concurrent
writers on different nodes stay correct; reads that must be consistent use REPEATABLE READ.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import conninfo, errors, sql

from roost.store._base import Row, Tx
from roost.store.common import to_utc, utc_now
from roost.store.interface import AlreadyExists, StoreError
from roost.store.migrations import Migration, check_not_newer, load_migrations
from roost.store.sqlstore import SqlStore, read_schema_version


@functools.lru_cache(maxsize=512)
def _pg(text: str) -> str:
    """Shared SQL uses `?`; psycopg wants `%s` (no shared statement contains ? or % otherwise)."""
    return text.replace("?", "%s")


class _PgTx:
    def __init__(self, cur: psycopg.Cursor[Row]) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        self._cur.execute(_pg(sql), params)
        return self._cur.rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        if rows:
            self._cur.executemany(_pg(sql), rows)

    def one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        self._cur.execute(_pg(sql), params)
        return self._cur.fetchone()

    def all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        self._cur.execute(_pg(sql), params)
        return self._cur.fetchall()

    def script(self, text: str) -> None:
        """Run a multi-statement script (no parameters: psycopg then sends it as one query)."""
        self._cur.execute(text.encode())


class PostgresStore(SqlStore):
    """interface.Store in one PostgreSQL schema (created if missing)."""

    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(
        self,
        dsn: str,
        schema: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        migrations: Sequence[Migration] | None = None,
    ) -> None:
        super().__init__(clock)
        self._dsn = dsn
        self._schema = schema
        self._lock = threading.Lock()
        self._conn = self._connect()
        try:
            self._migrate(list(migrations) if migrations is not None else postgres_migrations())
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection[Row]:
        """Connect, create the schema under an advisory lock, and point search_path at it."""
        try:
            conn = psycopg.connect(self._dsn, autocommit=False)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL ({redact(self._dsn)}): {exc}") from exc
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_key,))
                cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._ident))
            conn.commit()
            conn.execute(sql.SQL("SET search_path TO {}").format(self._ident))
            conn.commit()
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"cannot prepare schema {self._schema}: {exc}") from exc
        return conn

    @property
    def _ident(self) -> sql.Identifier:
        return sql.Identifier(self._schema)

    @property
    def _lock_key(self) -> str:
        return f"roost.migrate.{self._schema}"

    # --- transactions ----------------------------------------------------------------------
    @contextmanager
    def _transaction(self, *, read_only: bool) -> Iterator[_PgTx]:
        with self._lock:
            if self._conn.broken:  # the server restarted or the network dropped: start afresh
                self._conn = self._connect()
            try:
                with self._conn.cursor() as cur:
                    if read_only:  # one snapshot for every statement of the read
                        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    yield _PgTx(cur)
                self._conn.commit()
            except psycopg.Error as exc:
                self._rollback()
                raise _translate(exc) from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if not self._conn.closed and not self._conn.broken:
            self._conn.rollback()

    def _write(self) -> AbstractContextManager[Tx]:
        return self._transaction(read_only=False)

    def _read(self) -> AbstractContextManager[Tx]:
        return self._transaction(read_only=True)

    # --- dialect ---------------------------------------------------------------------------
    def _ts_in(self, value: datetime) -> object:
        return to_utc(value)

    def _ts_out(self, value: Any) -> datetime:
        stamp: datetime = value
        return stamp.astimezone(UTC)

    # --- migrations ------------------------------------------------------------------------
    def _migrate(self, migrations: list[Migration]) -> None:
        """Forward only, one step per transaction, serialised across nodes by an advisory lock."""
        for migration in [None, *migrations]:
            with self._transaction(read_only=False) as tx:
                tx.one("SELECT pg_advisory_xact_lock(hashtext(?))", (self._lock_key,))
                current = self._version(tx)
                check_not_newer(current, len(migrations))
                if migration is None or current >= migration.version:
                    continue
                tx.script(migration.sql)
                tx.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(migration.version),),
                )

    def _version(self, tx: Tx) -> int:
        has_meta = tx.one(
            "SELECT 1 FROM information_schema.tables"
            " WHERE table_schema = ? AND table_name = 'meta'",
            (self._schema,),
        )
        return read_schema_version(tx) if has_meta else 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _translate(exc: psycopg.Error) -> StoreError:
    """Driver errors become StoreError carrying the server's message."""
    if isinstance(exc, errors.UniqueViolation):
        return AlreadyExists(f"PostgreSQL: {exc}")
    return StoreError(f"PostgreSQL: {exc}")


def redact(dsn: str) -> str:
    """The DSN without its password, fit for an error message or a log line."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "<unparsable DSN>"
    hidden = params.pop("password", None) is not None
    text = conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})
    return f"{text} (password hidden)" if hidden else text


def postgres_migrations() -> list[Migration]:
    return load_migrations("roost.store.postgres")
