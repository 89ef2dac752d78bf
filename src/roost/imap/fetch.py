"""IMAP FETCH items (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ/CHANGEDSINCE/VANISHED)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from roost.imap.grammar import MAX_NUMBER64, BadSyntax, Cursor

SIMPLE_ITEMS = frozenset(
    [
        "FLAGS",
        "UID",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODYSTRUCTURE",
        "BODY",
        "MODSEQ",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "SAVEDATE",
        "EMAILID",
        "THREADID",
    ]
)
# RFC 9051 §6.4.5: the macros are shorthands for these item lists.
MACROS: dict[str, tuple[str, ...]] = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_NAME = re.compile(rb"[A-Za-z0-9.]+")
_PART = re.compile(rb"[1-9][0-9]{0,9}(?:\.[1-9][0-9]{0,9})*")
SPECIFIERS = ("HEADER.FIELDS.NOT", "HEADER.FIELDS", "HEADER", "TEXT", "MIME")


@dataclass(frozen=True, slots=True)
class Attribute:
    """An item without a section: FLAGS, UID, ENVELOPE, BODY (structure), MODSEQ, …"""

    name: str


@dataclass(frozen=True, slots=True)
class Section:
    """BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...] with an optional <partial>."""

    part: tuple[int, ...] = ()  # 1.2.3 -> (1, 2, 3); () is the whole message
    specifier: str | None = None  # HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple[str, ...] = ()  # upper-cased, for HEADER.FIELDS[.NOT]
    partial: tuple[int, int] | None = None  # (offset, length)
    peek: bool = False
    binary: bool = False


@dataclass(frozen=True, slots=True)
class BinarySize:
    part: tuple[int, ...]


FetchItem = Attribute | Section | BinarySize


def parse_fetch_items(cur: Cursor) -> tuple[FetchItem, ...]:
    """A macro, one item, or a parenthesised list of items."""
    if cur.peek(b"("):
        return tuple(cur.paren_list(_item, empty=False))
    name = cur.match(_NAME, "fetch item").group().decode("ascii").upper()
    if name in MACROS:
        return tuple(Attribute(n) for n in MACROS[name])
    return (_item_named(cur, name),)


def _item(cur: Cursor) -> FetchItem:
    name = cur.match(_NAME, "fetch item").group().decode("ascii").upper()
    return _item_named(cur, name)


def _item_named(cur: Cursor, name: str) -> FetchItem:
    if name in ("BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK") and cur.peek(b"["):
        return _section(cur, peek=name.endswith(".PEEK"), binary=name.startswith("BINARY"))
    if name == "BINARY.SIZE":
        cur.expect(b"[")
        part = _part(cur)
        cur.expect(b"]")
        return BinarySize(part)
    if name in SIMPLE_ITEMS:
        return Attribute(name)
    raise BadSyntax(f"unknown fetch item {name}")


def _section(cur: Cursor, *, peek: bool, binary: bool) -> Section:
    cur.expect(b"[")
    part = _part(cur) if cur.data[cur.pos : cur.pos + 1].isdigit() else ()
    specifier: str | None = None
    fields: tuple[str, ...] = ()
    if not cur.peek(b"]"):
        if binary:
            raise BadSyntax("BINARY takes only a part number")  # RFC 3516 §4.2
        if part:
            cur.expect(b".")
        specifier = _specifier(cur, has_part=bool(part))
        if specifier.startswith("HEADER.FIELDS"):
            cur.sp()
            fields = tuple(f.upper() for f in cur.paren_list(Cursor.astring, empty=False))
    cur.expect(b"]")
    return Section(part, specifier, fields, _partial(cur), peek, binary)


def _part(cur: Cursor) -> tuple[int, ...]:
    raw = cur.match(_PART, "section part").group()
    return tuple(int(p) for p in raw.split(b"."))


def _specifier(cur: Cursor, *, has_part: bool) -> str:
    for spec in SPECIFIERS:
        if cur.take(spec.encode()):
            if spec == "MIME" and not has_part:
                raise BadSyntax("MIME needs a part number")  # RFC 9051 §6.4.5
            return spec
    raise BadSyntax("bad section")


def _partial(cur: Cursor) -> tuple[int, int] | None:
    if not cur.take(b"<"):
        return None
    offset = cur.number(MAX_NUMBER64)
    cur.expect(b".")
    length = cur.nz_number(MAX_NUMBER64)
    cur.expect(b">")
    return (offset, length)
