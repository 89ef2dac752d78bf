"""Queue and session ids: short, unique across nodes, and sortable by arrival time.

Random bits come from a pool refilled 4 KiB at a time: one getrandom() per ~1000 ids instead of
one per id (it showed up in the accept-path profile, bench/README.md).
"""

from __future__ import annotations

import os
import time

_ALPHABET = (
    "0123456789BCDFGHJKLMNPQRSTVWXYZ"  # no vowels (no accidental words), as Postfix's long ids
)
_POOL_SIZE = 4096


class _RandomPool:
    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0

    def take(self, n: int) -> bytes:
        if self._pos + n > len(self._buf):
            self._buf, self._pos = os.urandom(_POOL_SIZE), 0
        chunk = self._buf[self._pos : self._pos + n]
        self._pos += n
        return chunk


_pool = _RandomPool()


def new_queue_id(now_ns: int | None = None) -> str:
    """13 characters: milliseconds since the epoch, then 20 random bits; sorts by time."""
    ms = (now_ns if now_ns is not None else time.time_ns()) // 1_000_000
    value = (ms << 20) | (int.from_bytes(_pool.take(3), "big") & 0xFFFFF)
    chars = []
    for _ in range(13):
        value, digit = divmod(value, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_session_id() -> str:
    """10 hex characters naming one SMTP connection in the logs."""
    return _pool.take(5).hex()
