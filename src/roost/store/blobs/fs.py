"""Message bodies as content-addressed files: root/ab/cd/<sha256 hex>.

Writing and making durable are separate steps. `put` and `put_file` only rename files into
place; `sync` then fsyncs a whole batch at once, from a small thread pool, because ext4 (and
most journaling file systems) fold concurrent fsyncs into one journal commit: a batch of 100
bodies costs about one disk flush instead of 100. That is intake's group commit, and it is why
250 is only sent after `sync` and the database commit both returned.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from roost.store.interface import NotFound, StoreError
from roost.store.types import BlobRef

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
SYNC_THREADS = 8


def check_digest(digest: str) -> str:
    """Only 64 lower-case hex characters ever become a path: no '..', '/', or NUL can slip in."""
    if not _DIGEST.match(digest):
        raise StoreError(f"invalid blob digest {digest[:80]!r}: expected 64 lower-case hex digits")
    return digest


def _fsync_path(path: Path) -> None:
    """fsync a file or directory (a directory's entry list is only durable once synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlobStore:
    """interface.BlobStore on a local directory; deduplicates identical bodies."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._unsynced_dirs: set[Path] = set()  # directories that gained an entry since sync
        self._synced: set[str] = set()  # digests known durable (by this process)
        self._pool: ThreadPoolExecutor | None = None

    def path(self, digest: str) -> Path:
        check_digest(digest)
        return self._root / digest[:2] / digest[2:4] / digest

    def spool_dir(self) -> str:
        """Where callers write bodies before `put_file` (same file system: rename is atomic)."""
        return str(self._tmp)

    # --- writing ---------------------------------------------------------------------------
    def put(self, data: bytes) -> BlobRef:
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        target = self.path(ref.digest)
        if target.exists():
            return ref
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            self._move_into_place(Path(tmp_name), target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return ref

    def put_file(self, path: str, digest: str, size: int) -> BlobRef:
        """Adopt a spooled file, already hashed by its writer; a duplicate is just dropped."""
        source = Path(path)
        target = self.path(digest)
        if source.resolve().parent != self._tmp.resolve():
            raise StoreError(f"{path} is not in the blob spool directory {self._tmp}")
        actual = source.stat().st_size
        if actual != size:
            raise StoreError(f"spool file {path} has {actual} bytes, expected {size}")
        if target.exists():
            source.unlink()
        else:
            self._move_into_place(source, target)
        return BlobRef(digest, size)

    def _move_into_place(self, source: Path, target: Path) -> None:
        parent = target.parent
        if not parent.is_dir():
            parent.mkdir(parents=True, exist_ok=True)
            with self._lock:  # the new directories' own entries must reach the disk too
                self._unsynced_dirs.update({parent.parent, self._root})
        os.replace(source, target)
        with self._lock:
            self._unsynced_dirs.add(parent)
            self._synced.discard(target.name)

    # --- durability ------------------------------------------------------------------------
    def sync(self, refs: Sequence[BlobRef]) -> None:
        """fsync the given files and every directory touched since the last sync, concurrently."""
        with self._lock:
            digests = {r.digest for r in refs} - self._synced
            dirs = set(self._unsynced_dirs) | {self.path(d).parent for d in digests}
            self._unsynced_dirs.clear()
        targets = [self.path(d) for d in sorted(digests)] + sorted(dirs)
        try:
            list(self._executor().map(_fsync_path, targets))
        except FileNotFoundError as exc:
            with self._lock:
                self._unsynced_dirs.update(dirs)
            raise NotFound(f"blob to sync is missing: {exc.filename}") from exc
        with self._lock:
            self._synced.update(digests)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="roost-fsync")
            return self._pool

    # --- reading and removal ---------------------------------------------------------------
    def get(self, ref: BlobRef) -> bytes:
        try:
            return self.path(ref.digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {ref.digest} is missing from {self._root}") from None

    def get_many(self, refs: Sequence[BlobRef]) -> dict[str, bytes]:
        return {ref.digest: self.get(ref) for ref in refs}

    def get_head(self, ref: BlobRef, length: int) -> bytes:
        try:
            with self.path(ref.digest).open("rb") as f:
                return f.read(length)
        except FileNotFoundError:
            raise NotFound(f"blob {ref.digest} is missing from {self._root}") from None

    def get_heads(self, refs: Sequence[BlobRef], length: int) -> dict[str, bytes]:
        return {ref.digest: self.get_head(ref, length) for ref in refs}

    def exists(self, ref: BlobRef) -> bool:
        return self.path(ref.digest).is_file()

    def delete(self, ref: BlobRef) -> None:
        """Removes the file only (empty fan-out directories stay; they are reused)."""
        self.path(ref.digest).unlink(missing_ok=True)
        with self._lock:
            self._synced.discard(ref.digest)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
