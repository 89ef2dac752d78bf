"""Collects a message's bytes while it arrives: in memory while small, in a spool file past that.

The SHA-256 digest is computed as the bytes arrive, so the content-addressed blob needs no second
pass over a large message.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass

MEMORY_LIMIT = 512 * 1024  # bytes kept in memory before spilling to a file


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    """A finished message: either `data` in memory or a spool file at `path`."""

    digest: str
    size: int
    data: bytes | None
    path: str | None

    def discard(self) -> None:
        if self.path:
            _unlink_quietly(self.path)


class Spool:
    def __init__(self, spool_dir: str, memory_limit: int = MEMORY_LIMIT) -> None:
        self._dir = spool_dir
        self._limit = memory_limit
        self._buffer = bytearray()
        self._file: tempfile._TemporaryFileWrapper[bytes] | None = None
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._buffer += data
        if len(self._buffer) > self._limit:
            self._spill()

    def _spill(self) -> None:
        self._file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives until finish()/discard()
            dir=self._dir, prefix="spool-", delete=False
        )
        self._file.write(self._buffer)
        self._buffer = bytearray()

    def finish(self) -> SpooledMessage:
        digest = self._hash.hexdigest()
        if self._file is None:
            return SpooledMessage(digest, self.size, bytes(self._buffer), None)
        self._file.close()
        return SpooledMessage(digest, self.size, None, self._file.name)

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            _unlink_quietly(self._file.name)
            self._file = None
        self._buffer = bytearray()


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
