"""SQLite backend (stdlib sqlite3, WAL): the single-node default."""

from roost.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
