"""IMAP SEARCH keys (RFC 9051 §6.4.4, RFC 7162 §3.1.5 MODSEQ, RFC 5182 `$`) as a typed tree."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from roost.imap.grammar import MAX_NUMBER64, BadSyntax, Cursor
from roost.imap.sequence import SequenceSet

MAX_DEPTH = 32  # nesting bound for NOT/OR/( ): a hostile client cannot blow the stack

FLAG_KEYS = frozenset(
    [
        "ALL",
        "ANSWERED",
        "DELETED",
        "DRAFT",
        "FLAGGED",
        "SEEN",
        "UNANSWERED",
        "UNDELETED",
        "UNDRAFT",
        "UNFLAGGED",
        "UNSEEN",
        "NEW",
        "OLD",
        "RECENT",
    ]  # the last three are IMAP4rev1 only (RFC 3501 §6.4.4)
)
TEXT_KEYS = frozenset(["BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"])
DATE_KEYS = frozenset(["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"])
SIZE_KEYS = frozenset(("LARGER", "SMALLER"))
KEYWORD_KEYS = frozenset(("KEYWORD", "UNKEYWORD"))


@dataclass(frozen=True, slots=True)
class FlagKey:
    name: str  # ALL, SEEN, UNSEEN, …


@dataclass(frozen=True, slots=True)
class TextKey:
    name: str  # BCC, BODY, CC, FROM, SUBJECT, TEXT, TO
    value: str


@dataclass(frozen=True, slots=True)
class HeaderKey:
    field: str
    value: str


@dataclass(frozen=True, slots=True)
class DateKey:
    name: str  # BEFORE, ON, SINCE, SENTBEFORE, SENTON, SENTSINCE
    date: dt.date


@dataclass(frozen=True, slots=True)
class SizeKey:
    name: str  # LARGER, SMALLER
    size: int


@dataclass(frozen=True, slots=True)
class KeywordKey:
    name: str  # KEYWORD, UNKEYWORD
    flag: str


@dataclass(frozen=True, slots=True)
class SequenceKey:
    """A bare sequence set (message numbers), or UID <set> when `uid`."""

    numbers: SequenceSet
    uid: bool = False


@dataclass(frozen=True, slots=True)
class ModSeqKey:
    """RFC 7162 §3.1.5: MODSEQ [entry-name entry-type] mod-sequence-valzer."""

    modseq: int
    entry: str | None = None
    entry_type: str | None = None  # priv, shared, all


@dataclass(frozen=True, slots=True)
class Not:
    key: SearchKey


@dataclass(frozen=True, slots=True)
class Or:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class And:
    """All of `keys`: a parenthesised group, and the top level of every SEARCH."""

    keys: tuple[SearchKey, ...]


SearchKey = (
    FlagKey
    | TextKey
    | HeaderKey
    | DateKey
    | SizeKey
    | KeywordKey
    | SequenceKey
    | ModSeqKey
    | Not
    | Or
    | And
)


def parse_search_keys(cur: Cursor) -> And:
    """One or more keys separated by SP, to the end of the command."""
    keys = [parse_key(cur, 0)]
    while not cur.at_end():
        cur.sp()
        keys.append(parse_key(cur, 0))
    return And(tuple(keys))


def parse_key(cur: Cursor, depth: int) -> SearchKey:
    if depth > MAX_DEPTH:
        raise BadSyntax("search keys nested too deeply")
    if cur.peek(b"("):
        return And(tuple(cur.paren_list(lambda c: parse_key(c, depth + 1), empty=False)))
    if cur.peek(b"$") or cur.peek(b"*") or cur.data[cur.pos : cur.pos + 1].isdigit():
        return SequenceKey(cur.sequence_set())
    name = cur.atom().upper()
    if name in FLAG_KEYS:
        return FlagKey(name)
    return _key_with_argument(cur, name, depth)


def _key_with_argument(cur: Cursor, name: str, depth: int) -> SearchKey:
    cur.sp()
    if name in TEXT_KEYS:
        return TextKey(name, cur.astring())
    if name in DATE_KEYS:
        return DateKey(name, cur.search_date())
    if name in SIZE_KEYS:
        return SizeKey(name, cur.number(MAX_NUMBER64))
    if name in KEYWORD_KEYS:
        return KeywordKey(name, cur.flag())
    if name == "HEADER":
        field = cur.astring()
        cur.sp()
        return HeaderKey(field, cur.astring())
    if name == "UID":
        return SequenceKey(cur.sequence_set(), uid=True)
    if name == "NOT":
        return Not(parse_key(cur, depth + 1))
    if name == "OR":
        left = parse_key(cur, depth + 1)
        cur.sp()
        return Or(left, parse_key(cur, depth + 1))
    if name == "MODSEQ":
        return _modseq(cur)
    raise BadSyntax(f"unknown search key {name}")


def _modseq(cur: Cursor) -> ModSeqKey:
    if cur.is_string():
        entry = cur.string()
        cur.sp()
        entry_type = cur.atom().lower()
        if entry_type not in ("priv", "shared", "all"):
            raise BadSyntax("bad MODSEQ entry type")
        cur.sp()
        return ModSeqKey(cur.number(MAX_NUMBER64), entry, entry_type)
    return ModSeqKey(cur.number(MAX_NUMBER64))
