"""Store fixtures: a fresh store per test on each backend, and helpers to build messages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from roost.config.load import resolve_path
from roost.config.model import RoostConfig
from roost.store import open_blobs, open_store
from roost.store.blobs import FileBlobStore, TieredBlobStore
from roost.store.interface import Store
from roost.store.migrations import Migration
from roost.store.types import BlobRef, NewMessage, NewRecipient

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BLOB = BlobRef("ab" * 32, 100)


def open_with(config: RoostConfig, migrations: Sequence[Migration] | None = None) -> Store:
    """Open the configured backend with a chosen migration list (tests of the migrator)."""
    if config.storage.backend == "postgres":
        from roost.store.postgres.store import PostgresStore

        return PostgresStore(
            config.storage.postgres_dsn, config.storage.postgres_schema, migrations=migrations
        )
    from roost.store.sqlite.store import SqliteStore

    return SqliteStore(resolve_path(config, config.storage.sqlite_path), migrations=migrations)


def shipped_migrations(config: RoostConfig) -> list[Migration]:
    if config.storage.backend == "postgres":
        from roost.store.postgres.store import postgres_migrations

        return postgres_migrations()
    from roost.store.sqlite.store import sqlite_migrations

    return sqlite_migrations()


@pytest.fixture
def store(roost_config: RoostConfig) -> Iterator[Store]:
    s = open_store(roost_config)
    yield s
    s.close()


@pytest.fixture
def blobs(roost_config: RoostConfig, store: Store) -> Iterator[TieredBlobStore]:
    """The blob store the server uses: inline in `store` up to inline_blob_max, files above."""
    tiered = open_blobs(roost_config, store)
    yield tiered
    tiered.close()


@pytest.fixture
def file_blobs(roost_config: RoostConfig) -> Iterator[FileBlobStore]:
    """The file tier alone, at the configured blob_dir."""
    files = FileBlobStore(resolve_path(roost_config, roost_config.storage.blob_dir))
    yield files
    files.close()


@pytest.fixture
def local_store(store: Store) -> Store:
    """A store with domain example.org and users alice and bob."""
    store.add_domain("example.org")
    store.add_user("alice@example.org", "hash-a")
    store.add_user("bob@example.org", "hash-b")
    return store


def local(address: str, user: str | None = None) -> NewRecipient:
    """A recipient delivered locally to `user` (default: the address itself)."""
    target = user or address
    return NewRecipient(address, target, f"Delivered-To: {target}\r\n".encode())


def remote(address: str) -> NewRecipient:
    return NewRecipient(address, notify="FAILURE", orcpt=f"rfc822;{address}")


def message(
    queue_id: str,
    *recipients: NewRecipient,
    hold: bool = False,
    offset: int = 0,
    blob: BlobRef = BLOB,
) -> NewMessage:
    return NewMessage(
        queue_id=queue_id,
        sender="sender@remote.test",
        recipients=recipients,
        blob=blob,
        prefix=b"Received: from x\r\n",
        received_at=T0 + timedelta(seconds=offset),
        client_ip="192.0.2.1",
        helo="client.remote.test",
        hold=hold,
    )
