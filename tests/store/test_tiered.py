"""Tiered blob storage: small bodies inline in the database (table blobs), large ones as files."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from roost.config.load import resolve_path
from roost.config.model import RoostConfig
from roost.store.blobs import FileBlobStore, TieredBlobStore
from roost.store.interface import NotFound, Store, StoreError
from roost.store.types import BlobRef, NewMessage, NewRecipient
from tests.store.conftest import local, message, remote

SMALL = b"Subject: small\r\n\r\nhello\r\n"
LARGE = b"Subject: large\r\n\r\n" + b"x" * (70 * 1024)


def ref_of(data: bytes) -> BlobRef:
    return BlobRef(hashlib.sha256(data).hexdigest(), len(data))


def inline(queue_id: str, body: bytes, *recipients: NewRecipient) -> NewMessage:
    """A message whose body travels with it into enqueue_batch (what intake does for small ones)."""
    rcpts = recipients or (remote("far@remote.test"),)
    return replace(message(queue_id, *rcpts, blob=ref_of(body)), body=body)


def blob_files(config: RoostConfig) -> list[Path]:
    """Body files in the file tier (the spool directory tmp/ is not one)."""
    root = resolve_path(config, config.storage.blob_dir)
    return [p for p in root.rglob("*") if p.is_file() and p.parent.name != "tmp"]


def test_inline_enqueue_writes_no_file(
    local_store: Store, blobs: TieredBlobStore, roost_config: RoostConfig
) -> None:
    """A body given to enqueue_batch is a database row, readable both ways; no file is created."""
    msg = inline("Q1", SMALL, local("alice@example.org"), remote("far@remote.test"))
    local_store.enqueue_batch([msg])
    assert local_store.get_blob(msg.blob.digest) == SMALL
    assert blobs.get(msg.blob) == SMALL
    assert blobs.exists(msg.blob)
    [stored] = local_store.list_messages("alice@example.org", "INBOX")
    assert blobs.get(stored.blob) == SMALL
    assert blob_files(roost_config) == []


def test_put_small_is_inline_and_durable(
    store: Store, blobs: TieredBlobStore, roost_config: RoostConfig
) -> None:
    """put() of a small body commits it to the database; sync has no file to wait for."""
    ref = blobs.put(SMALL)
    assert ref == ref_of(SMALL)
    assert store.get_blob(ref.digest) == SMALL
    blobs.sync([ref])
    assert blob_files(roost_config) == []


def test_large_body_goes_to_the_file_tier(
    local_store: Store, blobs: TieredBlobStore, roost_config: RoostConfig
) -> None:
    """Above inline_max the body is a synced file, and the database holds no copy of it."""
    ref = blobs.put(LARGE)
    blobs.sync([ref])
    local_store.enqueue_batch([message("Q1", local("alice@example.org"), blob=ref)])
    assert [p.name for p in blob_files(roost_config)] == [ref.digest]
    assert local_store.get_blob(ref.digest) is None
    [stored] = local_store.list_messages("alice@example.org", "INBOX")
    assert blobs.get(stored.blob) == LARGE


def test_duplicate_digests_in_one_batch_and_across_batches(
    local_store: Store, blobs: TieredBlobStore
) -> None:
    """Identical bodies share one row: within a batch, in a later batch, and via put_blob."""
    local_store.enqueue_batch([inline("Q1", SMALL), inline("Q2", SMALL, local("bob@example.org"))])
    local_store.enqueue_batch([inline("Q3", SMALL)])
    local_store.put_blob(ref_of(SMALL), SMALL)
    assert blobs.put(SMALL) == ref_of(SMALL)
    assert {e.queue_id for e in local_store.list_queue()} == {"Q1", "Q3"}
    assert local_store.get_blob(ref_of(SMALL).digest) == SMALL


@pytest.mark.parametrize(("written_max", "read_max"), [(64 * 1024, 0), (0, 64 * 1024)])
def test_get_falls_back_across_tiers_after_threshold_change(
    store: Store, file_blobs: FileBlobStore, written_max: int, read_max: int
) -> None:
    """A body written under one threshold is still found (and deletable) under another."""
    ref = TieredBlobStore(file_blobs, store, written_max).put(SMALL)
    reader = TieredBlobStore(file_blobs, store, read_max)
    assert reader.get(ref) == SMALL
    assert reader.exists(ref)
    reader.delete(ref)
    assert not reader.exists(ref)
    with pytest.raises(NotFound, match=ref.digest):
        reader.get(ref)


@pytest.mark.parametrize("body", [SMALL, LARGE], ids=["inline", "file"])
def test_delete_in_both_tiers(store: Store, blobs: TieredBlobStore, body: bytes) -> None:
    """delete removes the body from its tier, is idempotent, and get is then NotFound."""
    ref = blobs.put(body)
    blobs.delete(ref)
    blobs.delete(ref)
    assert not blobs.exists(ref)
    assert store.get_blob(ref.digest) is None
    with pytest.raises(NotFound, match=ref.digest):
        blobs.get(ref)
    store.delete_blob(ref.digest)  # absent: no error


def test_blob_in_use_with_inline_blobs(local_store: Store, blobs: TieredBlobStore) -> None:
    """Queue rows and delivered messages both keep an inline body in use; deleting is the
    caller's step once nothing references it (as the CLI's `queue delete` does)."""
    queued, delivered = inline("Q1", SMALL), inline("Q2", LARGE[:1000], local("alice@example.org"))
    local_store.enqueue_batch([queued, delivered])
    assert local_store.blob_in_use(queued.blob)
    assert local_store.blob_in_use(delivered.blob)
    ref = local_store.delete_queue_entry("Q1")
    assert not local_store.blob_in_use(ref)
    blobs.delete(ref)
    assert local_store.get_blob(ref.digest) is None
    assert blobs.get(delivered.blob) == LARGE[:1000]


def test_mismatched_body_size_is_refused(local_store: Store) -> None:
    """A body that is not as long as its ref says stores nothing at all (same transaction)."""
    good = inline("Q1", SMALL)
    bad = replace(inline("Q2", SMALL), blob=BlobRef(ref_of(b"other").digest, len(SMALL) + 1))
    with pytest.raises(StoreError, match="bytes"):
        local_store.enqueue_batch([good, bad])
    assert local_store.list_queue() == []
    assert local_store.get_blob(good.blob.digest) is None
    with pytest.raises(StoreError, match="bytes"):
        local_store.put_blob(BlobRef(good.blob.digest, 1), SMALL)


def test_invalid_digest_is_refused(store: Store) -> None:
    """Digests are checked in the database tier as in the file tier."""
    with pytest.raises(StoreError, match="invalid blob digest"):
        store.get_blob("../x")
    with pytest.raises(StoreError, match="invalid blob digest"):
        store.put_blob(BlobRef("AB" * 32, 1), b"x")


def test_small_spooled_file_is_still_synced(
    blobs: TieredBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """put_file keeps a body in the file tier even when it is small, so sync must fsync it."""
    spool = Path(blobs.spool_dir()) / "incoming-1"
    spool.write_bytes(SMALL)
    small_file = blobs.put_file(str(spool), ref_of(SMALL).digest, len(SMALL))
    inline_ref = blobs.put(b"inline body")
    synced: list[BlobRef] = []
    monkeypatch.setattr(blobs.files, "sync", synced.extend)
    blobs.sync([small_file, inline_ref])
    assert synced == [small_file]
    assert blobs.get(small_file) == SMALL


def test_inline_max_and_spool_dir(blobs: TieredBlobStore, roost_config: RoostConfig) -> None:
    """The threshold comes from storage.inline_blob_max; spooled bodies go to the file tier."""
    assert blobs.inline_max == roost_config.storage.inline_blob_max == 64 * 1024
    assert blobs.spool_dir() == blobs.files.spool_dir()
