"""Queue ids: short, unique across nodes, and sortable by arrival time (for operators' eyes)."""

from __future__ import annotations

import secrets
import time

_ALPHABET = (
    "0123456789BCDFGHJKLMNPQRSTVWXYZ"  # no vowels (no accidental words), as Postfix's long ids
)


def new_queue_id(now_ns: int | None = None) -> str:
    """13-character id: milliseconds since the epoch, then 20 random bits; sorts by time."""
    ms = (now_ns if now_ns is not None else time.time_ns()) // 1_000_000
    value = (ms << 20) | secrets.randbits(20)
    chars = []
    for _ in range(13):
        value, digit = divmod(value, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))
