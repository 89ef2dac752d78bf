"""Mailbox names on the wire: hierarchy, LIST patterns and the two encodings.

Roost's hierarchy delimiter is "/". The store keeps names as Unicode text. IMAP4rev2 clients
and those that ENABLE UTF8=ACCEPT send and receive UTF-8 (RFC 9051 §5.1); IMAP4rev1
clients use modified UTF-7 (RFC 3501 §5.1.3). INBOX is case-insensitive (RFC 9051 §5.1).
"""

from __future__ import annotations

import re
from functools import lru_cache

from roost.imap.mutf7 import MUtf7Error, decode_mutf7, encode_mutf7

DELIMITER = "/"
INBOX = "INBOX"


class BadName(ValueError):
    """A mailbox name the client may not use (empty, bad encoding, bad hierarchy)."""


def from_wire(name: str, *, utf8: bool) -> str:
    """The store name for a name the client sent."""
    if not utf8:
        try:
            name = decode_mutf7(name)
        except MUtf7Error as exc:
            raise BadName(f"bad modified UTF-7 mailbox name: {exc}") from exc
    if name.upper() == INBOX:
        return INBOX
    return name


def to_wire(name: str, *, utf8: bool) -> str:
    """The name to send for a store name."""
    return name if utf8 else encode_mutf7(name)


def check_new_name(name: str) -> str:
    """CREATE/RENAME targets: no empty levels, no control characters, a trailing delimiter
    dropped (RFC 9051 §6.3.4: "CREATE foo/" creates "foo")."""
    if name.endswith(DELIMITER):
        name = name[: -len(DELIMITER)]
    if not name or any(not level for level in name.split(DELIMITER)):
        raise BadName("empty hierarchy level in mailbox name")
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in name):
        raise BadName("control character in mailbox name")
    if "*" in name or "%" in name:
        raise BadName("wildcard in mailbox name")
    if len(name.encode("utf-8")) > 512:
        raise BadName("mailbox name too long")
    return name


def parent_names(name: str) -> list[str]:
    """ "a/b/c" -> ["a", "a/b"]."""
    levels = name.split(DELIMITER)
    return [DELIMITER.join(levels[:i]) for i in range(1, len(levels))]


def canonical_pattern(reference: str, pattern: str) -> str:
    """RFC 9051 §6.3.9: the reference and the pattern together name what to list."""
    if not reference or pattern.startswith(DELIMITER):
        return pattern
    if reference.endswith(DELIMITER):
        return reference + pattern
    return reference + DELIMITER + pattern


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append("[^/]*")  # % does not match the hierarchy delimiter
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def matches(pattern: str, name: str) -> bool:
    """Whether `name` matches a LIST pattern (INBOX compared without case)."""
    if name == INBOX and pattern.upper().startswith(INBOX):
        pattern = INBOX + pattern[len(INBOX) :]
    return _compile(pattern).fullmatch(name) is not None
