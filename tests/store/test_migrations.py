"""Schema migrations: applied forward on open, recorded, refused when the database is newer."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from roost.config.load import resolve_path
from roost.config.model import RoostConfig
from roost.store import open_blobs, open_store
from roost.store.blobs import FileBlobStore
from roost.store.interface import Store, StoreError
from roost.store.migrations import Migration, check_sequence
from roost.store.types import QueueState, RcptStatus
from tests.store.conftest import T0, local, message, open_with, remote, shipped_migrations


def test_fresh_database_is_migrated_to_latest(store: Store, roost_config: RoostConfig) -> None:
    """Opening an empty database applies every shipped migration."""
    assert store.schema_version() == len(shipped_migrations(roost_config)) >= 1
    assert store.directory_serial() == 0


def test_reopen_keeps_data(roost_config: RoostConfig) -> None:
    """Closing and reopening the store finds the same rows and does not re-run migrations."""
    first = open_store(roost_config)
    first.add_domain("example.org")
    first.add_user("alice@example.org", "h")
    first.close()
    second = open_store(roost_config)
    try:
        assert second.list_domains() == ["example.org"]
        assert second.get_user("alice@example.org") is not None
        assert second.schema_version() == len(shipped_migrations(roost_config))
    finally:
        second.close()


def test_new_migration_is_applied_forward(roost_config: RoostConfig) -> None:
    """A later step runs once on an existing database and bumps schema_version."""
    open_store(roost_config).close()
    shipped = shipped_migrations(roost_config)
    extra = Migration(len(shipped) + 1, "x_test.sql", "CREATE TABLE extra_t (n INTEGER);")
    upgraded = open_with(roost_config, [*shipped, extra])
    try:
        assert upgraded.schema_version() == extra.version
    finally:
        upgraded.close()
    open_with(roost_config, [*shipped, extra]).close()  # idempotent: CREATE would fail if rerun


def test_failed_migration_rolls_back(roost_config: RoostConfig) -> None:
    """A step that fails leaves the version (and the schema) as they were."""
    open_store(roost_config).close()
    shipped = shipped_migrations(roost_config)
    bad = Migration(len(shipped) + 1, "x_bad.sql", "CREATE TABLE t1 (n INTEGER);\nSELECT nope();")
    with pytest.raises(StoreError):
        open_with(roost_config, [*shipped, bad])
    reopened = open_store(roost_config)
    try:
        assert reopened.schema_version() == len(shipped)
    finally:
        reopened.close()


def test_newer_schema_is_refused(roost_config: RoostConfig) -> None:
    """Old code on a newer database stops with a message telling the operator to upgrade."""
    shipped = shipped_migrations(roost_config)
    future = Migration(len(shipped) + 1, "x_future.sql", "CREATE TABLE future_t (n INTEGER);")
    open_with(roost_config, [*shipped, future]).close()
    with pytest.raises(StoreError) as info:
        open_store(roost_config)
    expected = f"database schema version {len(shipped) + 1} is newer than this Roost "
    assert expected + f"({len(shipped)}); upgrade Roost" in str(info.value)


def test_concurrent_open_of_empty_database(roost_config: RoostConfig) -> None:
    """Two processes starting at once both end up with one correctly migrated schema."""
    stores: list[Store] = []
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            stores.append(open_store(roost_config))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {s.schema_version() for s in stores} == {len(shipped_migrations(roost_config))}
    for s in stores:
        s.close()


def test_migration_numbers_must_be_consecutive() -> None:
    """A gap in the numbering is a packaging error, caught before touching any database."""
    with pytest.raises(StoreError, match="out of sequence"):
        check_sequence([Migration(1, "0001_a.sql", ""), Migration(3, "0003_c.sql", "")])


def test_sqlite_durability_settings(tmp_path: Path) -> None:
    """SQLite runs in WAL with synchronous=FULL and foreign keys on (250 only after commit)."""
    roost_config = RoostConfig()
    roost_config.server.data_dir = str(tmp_path)
    roost_config.storage.sqlite_path = "nested/dir/roost.db"
    store = open_store(roost_config)
    store.close()
    path = resolve_path(roost_config, roost_config.storage.sqlite_path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()
    from roost.store.sqlite.store import SqliteStore

    sqlite_store = SqliteStore(path)
    try:
        conn = sqlite_store._conn
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (10000,)
    finally:
        sqlite_store.close()


def test_store_written_by_schema_1_is_upgraded(roost_config: RoostConfig) -> None:
    """A store from the version before inline blobs (schema 1) opens, is upgraded to the latest
    with all data intact; its file bodies stay readable and new bodies can go inline."""
    old = open_with(roost_config, shipped_migrations(roost_config)[:1])
    files = FileBlobStore(resolve_path(roost_config, roost_config.storage.blob_dir))
    try:
        assert old.schema_version() == 1
        old.add_domain("example.org")
        old.add_user("alice@example.org", "hash-a")
        body = files.put(b"Subject: before\r\n\r\nschema 1\r\n")
        files.sync([body])
        old.enqueue_batch([message("Q1", local("alice@example.org"), blob=body)])
        old.enqueue_batch([message("Q2", remote("far@remote.test"), blob=body)])
    finally:
        old.close()
    upgraded = open_store(roost_config)
    try:
        assert upgraded.schema_version() == len(shipped_migrations(roost_config))
        assert upgraded.get_user("alice@example.org") is not None
        [delivered] = upgraded.list_messages("alice@example.org", "INBOX")
        [queued] = upgraded.list_queue()
        assert queued.queue_id == "Q2"
        blobs = open_blobs(roost_config, upgraded)
        assert blobs.get(delivered.blob) == blobs.get(queued.blob) == files.get(body)
        assert upgraded.blob_in_use(body)
        new = blobs.put(b"after the upgrade")
        assert upgraded.get_blob(new.digest) == b"after the upgrade"
    finally:
        upgraded.close()
        files.close()


def test_store_written_by_schema_2_is_upgraded(roost_config: RoostConfig) -> None:
    """A store from before outbound delivery (schema 2) with queued mail upgrades to 3: queue
    rows intact and not yet warned, and the new delivery tables work on them at once."""
    old = open_with(roost_config, shipped_migrations(roost_config)[:2])
    try:
        assert old.schema_version() == 2
        old.add_domain("example.org")
        old.add_user("alice@example.org", "hash-a")
        old.enqueue_batch([message("Q1", local("alice@example.org"), remote("far@remote.test"))])
        old.enqueue_batch([message("Q2", remote("held@remote.test"), hold=True, offset=1)])
    finally:
        old.close()
    upgraded = open_store(roost_config)
    try:
        assert upgraded.schema_version() == len(shipped_migrations(roost_config))
        after = upgraded.list_queue()
        assert [(e.queue_id, e.state, e.warned) for e in after] == [
            ("Q1", QueueState.INCOMING, False),
            ("Q2", QueueState.HOLD, False),
        ]
        assert [r.address for r in after[0].recipients] == ["alice@example.org", "far@remote.test"]
        assert (after[0].prefix, after[0].received_at, after[0].attempts) == (
            b"Received: from x\r\n",
            T0,
            0,
        )
        [claimed] = upgraded.claim_due(
            "node-a", T0 + timedelta(minutes=1), 10, timedelta(minutes=5)
        )
        assert claimed.queue_id == "Q1"
        assert claimed.state is QueueState.ACTIVE
        assert [r.status for r in claimed.recipients] == [RcptStatus.DELIVERED, RcptStatus.PENDING]
        assert upgraded.list_attempts("Q1") == []
        assert upgraded.list_suppressions() == []
    finally:
        upgraded.close()


def test_store_written_by_schema_4_is_upgraded(roost_config: RoostConfig) -> None:
    """Schema 4 -> 5: usage counters computed from the messages already stored, no limits set,
    and after the upgrade the counters follow new messages and structures can be stored."""
    import hashlib

    from roost.message.wire import compute_structure
    from roost.store.types import BlobRef, QuotaUsage

    data = b"Subject: old\r\n\r\nold\r\n"
    ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
    old = open_with(roost_config, shipped_migrations(roost_config)[:4])
    try:
        assert old.schema_version() == 4
        old.add_domain("example.org")
        old.add_user("alice@example.org", "hash-a")
        old.add_user("bob@example.org", "hash-b")
        old.enqueue_batch([message("Q1", local("alice@example.org"))])
        old.append_message("alice@example.org", "Archive", ref, data, frozenset(), T0)
    finally:
        old.close()
    upgraded = open_store(roost_config)
    try:
        assert upgraded.schema_version() == len(shipped_migrations(roost_config)) >= 5
        inbox = upgraded.list_messages("alice@example.org", "INBOX")[0].size
        assert upgraded.quota_table() == {
            "alice@example.org": QuotaUsage(None, inbox + len(data), 2),
            "bob@example.org": QuotaUsage(None, 0, 0),
        }
        upgraded.expunge_messages("alice@example.org", "Archive", [1])
        structure = compute_structure(data)
        upgraded.append_message(
            "bob@example.org", "INBOX", ref, data, frozenset(), T0, structure=structure
        )
        assert upgraded.get_quota("alice@example.org") == QuotaUsage(None, inbox, 1)
        assert upgraded.get_quota("bob@example.org") == QuotaUsage(None, len(data), 1)
        assert upgraded.get_structures([ref.digest]) == {ref.digest: structure}
    finally:
        upgraded.close()
