"""File blob store (the file tier): content addressing, dedupe, batch sync, spool adoption."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from roost.config.load import resolve_path
from roost.config.model import RoostConfig
from roost.store.blobs.fs import FileBlobStore
from roost.store.interface import BlobStore, NotFound, StoreError
from roost.store.types import BlobRef

BODY = b"Subject: hi\r\n\r\nhello\r\n"


def test_put_get_is_content_addressed(file_blobs: BlobStore, roost_config: RoostConfig) -> None:
    """A blob is named by the SHA-256 of its bytes, fanned out under ab/cd/."""
    ref = file_blobs.put(BODY)
    digest = hashlib.sha256(BODY).hexdigest()
    assert ref == BlobRef(digest, len(BODY))
    root = resolve_path(roost_config, roost_config.storage.blob_dir)
    assert (root / digest[:2] / digest[2:4] / digest).read_bytes() == BODY
    assert file_blobs.get(ref) == BODY
    assert file_blobs.exists(ref)


def test_put_dedupes(file_blobs: BlobStore, roost_config: RoostConfig) -> None:
    """Storing the same bytes twice keeps one file and leaves no temp files behind."""
    assert file_blobs.put(BODY) == file_blobs.put(BODY)
    root = resolve_path(roost_config, roost_config.storage.blob_dir)
    assert len([p for p in root.rglob("*") if p.is_file()]) == 1


def test_sync_batch_and_resync(file_blobs: BlobStore) -> None:
    """sync accepts a batch, tolerates repeats, and fails loudly for a missing blob."""
    refs = [file_blobs.put(BODY + bytes([i])) for i in range(20)]
    file_blobs.sync(refs)
    file_blobs.sync(refs)  # already durable: nothing to do
    with pytest.raises(NotFound):
        file_blobs.sync([BlobRef("0" * 64, 1)])


def test_put_file_adopts_spooled_body(file_blobs: BlobStore) -> None:
    """A body written to the spool dir is moved into place; a duplicate spool file is dropped."""
    for _ in range(2):
        spool = Path(file_blobs.spool_dir()) / "incoming-1"
        spool.write_bytes(BODY)
        ref = file_blobs.put_file(str(spool), hashlib.sha256(BODY).hexdigest(), len(BODY))
        assert not spool.exists()
    assert file_blobs.get(ref) == BODY


def test_put_file_checks_location_and_size(file_blobs: BlobStore, tmp_path: Path) -> None:
    """Only spool files of the announced size are adopted."""
    outside = tmp_path / "elsewhere"
    outside.write_bytes(BODY)
    digest = hashlib.sha256(BODY).hexdigest()
    with pytest.raises(StoreError, match="spool"):
        file_blobs.put_file(str(outside), digest, len(BODY))
    spool = Path(file_blobs.spool_dir()) / "short"
    spool.write_bytes(BODY)
    with pytest.raises(StoreError, match="bytes"):
        file_blobs.put_file(str(spool), digest, len(BODY) + 1)


@pytest.mark.parametrize("digest", ["../../etc/passwd", "AB" * 32, "ab" * 31, "ab" * 32 + "/x"])
def test_malicious_digest_is_refused(file_blobs: BlobStore, digest: str) -> None:
    """Anything but 64 lower-case hex digits never becomes a path."""
    with pytest.raises(StoreError, match="invalid blob digest"):
        file_blobs.get(BlobRef(digest, 1))


def test_delete(file_blobs: BlobStore) -> None:
    """delete removes the file and is idempotent; get of a missing blob is NotFound."""
    ref = file_blobs.put(BODY)
    file_blobs.delete(ref)
    file_blobs.delete(ref)
    assert not file_blobs.exists(ref)
    with pytest.raises(NotFound, match=ref.digest):
        file_blobs.get(ref)


def test_close_stops_sync_pool(tmp_path: Path) -> None:
    """close() is safe before and after a sync."""
    store = FileBlobStore(tmp_path / "b")
    store.close()
    store.sync([store.put(BODY)])
    store.close()
