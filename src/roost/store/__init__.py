"""Storage: the metadata Store (SQLite or PostgreSQL) and the BlobStore for message bodies.

Callers get both from here, chosen by the config; they never import a backend directly.
"""

from __future__ import annotations

from roost.config.load import resolve_path
from roost.config.model import RoostConfig
from roost.store.blobs.fs import FileBlobStore
from roost.store.blobs.tiered import TieredBlobStore
from roost.store.interface import AlreadyExists, BlobStore, NotFound, Store, StoreError


def open_store(config: RoostConfig) -> Store:
    """Open (and migrate) the configured backend; PostgreSQL is imported only when chosen."""
    storage = config.storage
    if storage.backend == "postgres":
        from roost.store.postgres.store import PostgresStore

        return PostgresStore(storage.postgres_dsn, storage.postgres_schema)
    from roost.store.sqlite.store import SqliteStore

    path = resolve_path(config, storage.sqlite_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStore(path)


def open_blobs(config: RoostConfig, store: Store) -> TieredBlobStore:
    """Bodies up to storage.inline_blob_max in `store` (still the caller's to close), the rest
    as files. Readers need the Store too: a small body may exist only in the database.
    """
    root = resolve_path(config, config.storage.blob_dir)
    root.mkdir(parents=True, exist_ok=True)
    return TieredBlobStore(FileBlobStore(root), store, config.storage.inline_blob_max)


__all__ = [
    "AlreadyExists",
    "BlobStore",
    "NotFound",
    "Store",
    "StoreError",
    "TieredBlobStore",
    "open_blobs",
    "open_store",
]
