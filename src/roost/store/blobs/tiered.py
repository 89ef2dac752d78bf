"""Message bodies in two tiers: small ones inline in the metadata database, large ones as files.

Why: creating one file per message (mkstemp, mkdir, rename, then about three fsyncs) was most of
intake's group-commit time. A body up to `inline_max` bytes is a row in the `blobs` table
instead, committed like any other row; intake goes further and hands it to `enqueue_batch`
(`NewMessage.body`), so a whole batch costs one database commit. Larger bodies stay files,
synced before the commit as before. In a cluster every node reads inline bodies from the
shared database.

Both tiers are content-addressed by the same SHA-256 digest, so a reader does not need to know
where a body went: it tries the tier the size suggests first, then the other one. The threshold
can therefore change between runs without stranding any body.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

from roost.store.blobs.fs import FileBlobStore
from roost.store.interface import NotFound, Store
from roost.store.types import BlobRef


class TieredBlobStore:
    """interface.BlobStore over the Store's `blobs` table (small bodies) and a FileBlobStore."""

    def __init__(self, files: FileBlobStore, store: Store, inline_max: int) -> None:
        self.files = files
        self.store = store
        self.inline_max = inline_max
        self._lock = threading.Lock()
        # Small bodies that were adopted as files (put_file): they need a file sync all the same.
        self._small_files: set[str] = set()

    def _inline(self, ref: BlobRef) -> bool:
        return ref.size <= self.inline_max

    def spool_dir(self) -> str:
        return self.files.spool_dir()

    # --- writing ---------------------------------------------------------------------------
    def put(self, data: bytes) -> BlobRef:
        """Small bodies are committed to the database at once (durable); large ones are files."""
        if len(data) > self.inline_max:
            return self.files.put(data)
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        self.store.put_blob(ref, data)
        return ref

    def put_file(self, path: str, digest: str, size: int) -> BlobRef:
        """A spooled body is already a file on the right file system: adopt it as one."""
        ref = self.files.put_file(path, digest, size)
        if self._inline(ref):
            with self._lock:
                self._small_files.add(ref.digest)
        return ref

    def sync(self, refs: Sequence[BlobRef]) -> None:
        """fsync the refs in the file tier; an inline body is durable once its row committed."""
        with self._lock:
            on_disk = [r for r in refs if not self._inline(r) or r.digest in self._small_files]
        self.files.sync(on_disk)
        with self._lock:
            self._small_files.difference_update(r.digest for r in on_disk)

    # --- reading and removal ---------------------------------------------------------------
    def get(self, ref: BlobRef) -> bytes:
        """The likely tier first, then the other one; NotFound (as FileBlobStore) if in neither."""
        if self._inline(ref):
            data = self.store.get_blob(ref.digest)
            return data if data is not None else self.files.get(ref)
        try:
            return self.files.get(ref)
        except NotFound:
            data = self.store.get_blob(ref.digest)
            if data is None:
                raise
            return data

    def get_many(self, refs: Sequence[BlobRef]) -> dict[str, bytes]:
        """Many bodies at once (IMAP FETCH/SEARCH over a chunk): the inline ones in one query,
        the rest (and any inline one not found) one by one as `get` does."""
        found = self.store.get_blobs([r.digest for r in refs if self._inline(r)])
        for ref in refs:
            if ref.digest not in found:
                found[ref.digest] = self.get(ref)
        return found

    def get_heads(self, refs: Sequence[BlobRef], length: int) -> dict[str, bytes]:
        """The first `length` octets of each body: inline ones in one query; files read
        only that far."""
        found = self.store.get_blob_heads([r.digest for r in refs if self._inline(r)], length)
        for ref in refs:
            if ref.digest not in found:
                found[ref.digest] = self.files.get_head(ref, length)
        return found

    def exists(self, ref: BlobRef) -> bool:
        if self._inline(ref):
            return self.store.get_blob(ref.digest) is not None or self.files.exists(ref)
        return self.files.exists(ref) or self.store.get_blob(ref.digest) is not None

    def delete(self, ref: BlobRef) -> None:
        """Both tiers, absent or not: the body may have been written under another threshold."""
        self.files.delete(ref)
        self.store.delete_blob(ref.digest)
        with self._lock:
            self._small_files.discard(ref.digest)

    def close(self) -> None:
        """Stops the file tier's sync threads; the Store belongs to the caller and stays open."""
        self.files.close()
