"""SEARCH evaluation: does one message match a parsed key tree (RFC 9051 §6.4.4, RFC 7162
§3.1.5 MODSEQ, RFC 5182 `$`).

Pure functions. The session gives a `Candidate` (what the store row knows) and, only when
`needs_message(keys)` says so, the message bytes. Text keys match a Unicode case-insensitive
(casefold) substring of header values unfolded and decoded from RFC 2047 encoded words, or of
body text: text/* parts decoded from base64/quoted-printable and their charset (other parts
skipped). To bound the work on huge messages, at most `MAX_RAW` octets of a message are looked
at and at most `MAX_TEXT` characters of decoded body text are searched; text beyond that never
matches.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import datetime as dt
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_tz
from functools import lru_cache

from roost.imap.render import UnknownCte, decode_transfer, fields_after_newline, header_end
from roost.imap.search import (
    And,
    DateKey,
    FlagKey,
    HeaderKey,
    KeywordKey,
    ModSeqKey,
    Not,
    Or,
    SearchKey,
    SequenceKey,
    SizeKey,
    TextKey,
)
from roost.imap.sequence import SequenceSet
from roost.message.structure import leaf_parts

__all__ = [
    "MAX_RAW",
    "MAX_TEXT",
    "Candidate",
    "field_rows",
    "field_values",
    "header_needles",
    "matches",
    "may_match",
    "memo_fields",
    "needs_message",
    "only_header",
    "required_text",
]

MAX_RAW = 16 * 1024 * 1024  # octets of a message examined for BODY/TEXT
MAX_TEXT = 4 * 1024 * 1024  # characters of decoded body text searched

_FLAG_KEYS = {
    "ANSWERED": "\\Answered",
    "DELETED": "\\Deleted",
    "DRAFT": "\\Draft",
    "FLAGGED": "\\Flagged",
    "SEEN": "\\Seen",
}
_ADDRESS_KEYS = {"FROM": "from", "TO": "to", "CC": "cc", "BCC": "bcc", "SUBJECT": "subject"}
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(?==\?)")
_UNFOLD = re.compile(rb"\r?\n(?=[ \t])")
_FIELD = re.compile(rb"[^\n]*(?:\n|\Z)(?:[ \t][^\n]*(?:\n|\Z))*")
_TOKEN = re.compile(r"[!-9;-~]+")  # a field name (RFC 5322 §2.2 ftext)
_WHITESPACE = frozenset(b" \t\r\n")


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the mailbox knows about one message, without its bytes."""

    seq: int
    uid: int
    flags: frozenset[str]  # canonical system flag case (\Seen, …); keywords as stored
    size: int  # RFC822.SIZE
    internal_date: dt.datetime  # aware
    modseq: int


def needs_message(key: SearchKey) -> bool:
    """True when some key reads the message bytes (text and header keys, SENT* dates)."""
    if isinstance(key, TextKey | HeaderKey):
        return True
    if isinstance(key, DateKey):
        return key.name.startswith("SENT")
    if isinstance(key, Not):
        return needs_message(key.key)
    if isinstance(key, Or):
        return needs_message(key.left) or needs_message(key.right)
    if isinstance(key, And):
        return any(needs_message(k) for k in key.keys)
    return False


def only_header(key: SearchKey) -> bool:
    """True when the key reads no more of the message than its top-level header, and of the
    row nothing but UID, flags, size and MODSEQ: header FETCH rows (no internal date) serve."""
    if isinstance(key, HeaderKey):
        return True
    if isinstance(key, TextKey):
        return key.name in _ADDRESS_KEYS
    if isinstance(key, DateKey):
        return key.name.startswith("SENT")
    if isinstance(key, Not):
        return only_header(key.key)
    if isinstance(key, Or):
        return only_header(key.left) and only_header(key.right)
    if isinstance(key, And):
        return all(only_header(k) for k in key.keys)
    return isinstance(key, FlagKey | KeywordKey | SequenceKey | SizeKey | ModSeqKey)


def header_needles(key: And) -> list[bytes]:
    """Lower-cased ASCII values of the header keys every match must satisfy (the top-level
    AND's positive FROM/TO/CC/BCC/SUBJECT/HEADER keys with a non-empty ASCII value)."""
    out = []
    for k in key.keys:
        value = k.value if isinstance(k, HeaderKey) else None
        if isinstance(k, TextKey) and k.name in _ADDRESS_KEYS:
            value = k.value
        if value and value.isascii():
            out.append(value.lower().encode("ascii"))
    return out


def memo_fields(key: SearchKey) -> frozenset[str] | None:
    """The header fields (lower-cased names) an `only_header` key reads, when it reads nothing
    else of the message and no size: then `matches` can be given their decoded values (from the
    session's memo) instead of the message. None otherwise, or for a name that is not a plain
    field name (those take the path that reads the header)."""
    if isinstance(key, HeaderKey):
        name = key.field.lower()
        return frozenset([name]) if _TOKEN.fullmatch(name) else None
    if isinstance(key, TextKey):
        return frozenset([_ADDRESS_KEYS[key.name]]) if key.name in _ADDRESS_KEYS else None
    if isinstance(key, DateKey):
        return frozenset(["date"]) if key.name.startswith("SENT") else None  # not internal dates
    if isinstance(key, Not):
        return memo_fields(key.key)
    if isinstance(key, Or | And):
        names: set[str] = set()
        for part in (key.left, key.right) if isinstance(key, Or) else key.keys:
            found = memo_fields(part)
            if found is None:
                return None
            names |= found
        return frozenset(names)
    return frozenset() if isinstance(key, FlagKey | KeywordKey | SequenceKey | ModSeqKey) else None


def required_text(key: And) -> list[tuple[str, str]]:
    """(field name, casefolded value) of the top-level AND's positive FROM/TO/CC/BCC/SUBJECT
    and HEADER keys with a non-empty value: a message matches only if each value is a substring
    of one of that field's casefolded decoded values."""
    out = []
    for k in key.keys:
        if isinstance(k, HeaderKey) and k.value:
            out.append((k.field.lower(), k.value.casefold()))
        elif isinstance(k, TextKey) and k.name in _ADDRESS_KEYS and k.value:
            out.append((_ADDRESS_KEYS[k.name], k.value.casefold()))
    return out


def field_values(message: bytes, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each named field's values in the message's top-level header, unfolded and decoded, as
    `matches` reads them from the message (names lower-case, each a plain field name)."""
    order = list(names)
    return dict(zip(order, next(iter(field_rows([message], order))), strict=True))


def field_rows(messages: Iterable[bytes], names: Sequence[str]) -> Iterable[list[tuple[str, ...]]]:
    """`field_values` of many messages: for each, the values of each of `names` in that order.
    The pattern is chosen once (a memo fill calls this for every message of a mailbox)."""
    slot = {name: j for j, name in enumerate(names)}
    # The usual case, a header ending in a line end: one pass of a pattern that starts at a
    # line end (render.py) finds every named field; each is filed under its name.
    pattern = fields_after_newline(frozenset(n.encode("ascii") for n in names))
    for message in messages:
        block = message[: min(header_end(message), MAX_RAW)]
        if not block.endswith(b"\n"):
            yield [tuple(_field_value(f) for f in _named_fields(n).findall(block)) for n in names]
            continue
        if len(names) == 1:  # every field found has that name
            yield [tuple(map(_field_value, pattern.findall(b"\n" + block)))]
            continue
        found: list[list[str]] = [[] for _ in names]
        for field in pattern.findall(b"\n" + block):
            colon = field.find(b":")
            name = field[:colon].rstrip(b" \t").decode("ascii").lower()
            found[slot[name]].append(_field_value(field, colon))
        yield [tuple(values) for values in found]


def may_match(message: bytes, needles: list[bytes]) -> bool:
    """False only when `message` cannot match a key tree whose `header_needles` these are: in an
    ASCII header without encoded words a match shows in the unfolded octets, any case, and a
    needle without whitespace cannot span a fold. Anything else stays a candidate."""
    if not needles or not message.isascii() or b"=?" in message:
        return True
    low = message.lower()
    for needle in needles:
        if needle in low:
            continue
        if _WHITESPACE.isdisjoint(needle) or needle not in _UNFOLD.sub(b"", low):
            return False
    return True


def matches(
    key: And,
    c: Candidate,
    message: bytes | None,
    *,
    max_seq: int,
    max_uid: int,
    saved: frozenset[int] | None,
    fields: Mapping[str, Sequence[str]] | None = None,
) -> bool:
    """Whether candidate `c` satisfies `key`. `max_seq`/`max_uid` stand for `*` in message
    numbers and UIDs (they must be >= the candidate's); `saved` holds the UIDs of the last
    SEARCH SAVE (None: no saved result, so `$` matches nothing). `message` may be None only
    when `needs_message(key)` is False; a key that needs it then does not match. Instead of
    the message, a key that `memo_fields` accepts may be given the `field_values` it reads."""
    ctx = _Context(c, message, max_seq, max_uid, saved)
    if fields is not None:
        ctx._fields = {name: list(values) for name, values in fields.items() if values}
    return ctx.eval(key)


class _Context:
    """One evaluation: the candidate plus what was parsed from its bytes, parsed at most once."""

    __slots__ = (
        "_block",
        "_body",
        "_fields",
        "_header_text",
        "c",
        "max_seq",
        "max_uid",
        "message",
        "saved",
    )

    def __init__(
        self,
        c: Candidate,
        message: bytes | None,
        max_seq: int,
        max_uid: int,
        saved: frozenset[int] | None,
    ) -> None:
        self.c = c
        self.message = message
        self.max_seq = max_seq
        self.max_uid = max_uid
        self.saved = saved
        self._fields: dict[str, list[str]] | None = None
        self._block: bytes | None = None
        self._header_text: str | None = None
        self._body: str | None = None

    def eval(self, key: SearchKey) -> bool:
        if isinstance(key, And):
            # Cheap keys first: a flag or UID mismatch saves parsing the message.
            cheap = [k for k in key.keys if not needs_message(k)]
            costly = [k for k in key.keys if needs_message(k)]
            return all(self.eval(k) for k in cheap) and all(self.eval(k) for k in costly)
        if isinstance(key, Not):
            return not self.eval(key.key)
        if isinstance(key, Or):
            return self.eval(key.left) or self.eval(key.right)
        if isinstance(key, FlagKey):
            return self._flag(key.name)
        if isinstance(key, KeywordKey):
            wanted = key.flag.lower()
            has = any(f.lower() == wanted for f in self.c.flags)  # keywords: case-insensitive
            return has if key.name == "KEYWORD" else not has
        if isinstance(key, SequenceKey):
            return self._sequence(key)
        if isinstance(key, SizeKey):
            return self.c.size > key.size if key.name == "LARGER" else self.c.size < key.size
        if isinstance(key, ModSeqKey):
            return self.c.modseq >= key.modseq  # RFC 7162 §3.1.5
        if isinstance(key, DateKey):
            return self._date(key)
        if isinstance(key, TextKey):
            return self._text(key)
        if isinstance(key, HeaderKey):
            return self._header(key.field.lower(), key.value)
        raise TypeError(f"unknown search key {key!r}")  # pragma: no cover

    def _flag(self, name: str) -> bool:
        if name in ("ALL", "OLD"):
            return True
        if name in ("NEW", "RECENT"):
            return False  # no \Recent in IMAP4rev2 (RFC 9051 §6.4.4 drops it), so none is new
        if name.startswith("UN"):
            return _FLAG_KEYS[name[2:]] not in self.c.flags
        return _FLAG_KEYS[name] in self.c.flags

    def _sequence(self, key: SequenceKey) -> bool:
        if key.numbers.saved:  # RFC 5182 §2.1: `$` is the saved set of UIDs
            return self.saved is not None and self.c.uid in self.saved
        if key.uid:
            return _in_set(key.numbers, self.c.uid, self.max_uid)
        return _in_set(key.numbers, self.c.seq, self.max_seq)

    def _date(self, key: DateKey) -> bool:
        if key.name.startswith("SENT"):
            sent = self._sent_date()
            if sent is None:
                return False
            day, name = sent, key.name[4:]
        else:
            # The internal date's calendar day in its own timezone (RFC 9051 §6.4.4).
            day, name = self.c.internal_date.date(), key.name
        if name == "BEFORE":
            return day < key.date
        if name == "ON":
            return day == key.date
        return day >= key.date  # SINCE

    def _sent_date(self) -> dt.date | None:
        """The Date: field's day as written, disregarding time and timezone (RFC 9051 §6.4.4)."""
        values = self.fields().get("date")
        if not values:
            return None
        try:
            parsed = parsedate_tz(values[0])
            if parsed is None:
                return None
            return dt.date(parsed[0], parsed[1], parsed[2])
        except (ValueError, TypeError, IndexError, OverflowError):
            return None

    def _header(self, name: str, value: str) -> bool:
        if self._fields is not None:  # parsed already, or given: the general rule below
            return self._field_match(name, value)
        block = self.header_block()
        if value.isascii() and block.isascii() and b"=?" not in block and _TOKEN.fullmatch(name):
            # ASCII without encoded words: the named fields' unfolded values, lower-cased, are
            # what fields() would decode and casefold; found by one regex pass.
            found = _named_fields(name).findall(block)
            if not value:
                return bool(found)
            octets = value.lower().encode("ascii")
            return any(
                octets in _UNFOLD.sub(b"", f[f.find(b":") + 1 :]).strip(b" \t\r\n").lower()
                for f in found
            )
        # Fast refusal: in an ASCII header without encoded words, a match must show in the
        # unfolded octets (any case); most messages are refused here without parsing fields.
        plain = value.isascii() and block.isascii() and b"=?" not in block
        if value and plain and value.lower().encode() not in _UNFOLD.sub(b"", block).lower():
            return False
        return self._field_match(name, value)

    def _field_match(self, name: str, value: str) -> bool:
        values = self.fields().get(name)
        if values is None:
            return False
        if not value:
            return True  # HEADER name "" matches every message that has the field
        needle = value.casefold()
        return any(needle in v.casefold() for v in values)

    def _text(self, key: TextKey) -> bool:
        if key.name in _ADDRESS_KEYS:
            return self._header(_ADDRESS_KEYS[key.name], key.value)
        needle = key.value.casefold()
        if key.name == "TEXT" and needle in self.header_text():
            return True
        return needle in self.body_text()

    # --- lazily parsed message -------------------------------------------------------------

    def header_block(self) -> bytes:
        if self._block is None:
            msg = self.message
            self._block = b"" if msg is None else msg[: min(header_end(msg), MAX_RAW)]
        return self._block

    def fields(self) -> dict[str, list[str]]:
        """Lower-cased field name -> decoded values of the top-level header."""
        if self._fields is None:
            self._fields = {}
            if self.message is not None:
                block = self.header_block()
                for name, value in _split_fields(block):
                    self._fields.setdefault(name, []).append(value)
        return self._fields

    def header_text(self) -> str:
        if self._header_text is None:
            lines = [f"{name}: {v}" for name, values in self.fields().items() for v in values]
            self._header_text = "\n".join(lines).casefold()
        return self._header_text

    def body_text(self) -> str:
        if self._body is None:
            self._body = "" if self.message is None else _body_text(self.message).casefold()
        return self._body


@lru_cache(maxsize=64)
def _named_fields(name: str) -> re.Pattern[bytes]:
    """The fields named `name` (any case; blanks before the colon) with continuation lines, as
    _split_fields delimits them: a field starts at a line not starting with WSP."""
    return re.compile(
        rb"^" + re.escape(name.encode("ascii"))
        + rb"[ \t]*:[^\n]*(?:\n|\Z)(?:[ \t][^\n]*(?:\n|\Z))*",
        re.IGNORECASE | re.MULTILINE,
    )  # fmt: skip


@lru_cache(maxsize=256)
def _intervals(numbers: SequenceSet, largest: int) -> tuple[list[int], list[int]]:
    spans = numbers.intervals(largest)
    return [low for low, _ in spans], [high for _, high in spans]


def _in_set(numbers: SequenceSet, n: int, largest: int) -> bool:
    lows, highs = _intervals(numbers, max(largest, n))
    i = bisect_right(lows, n) - 1
    return i >= 0 and n <= highs[i]


# --- header decoding -----------------------------------------------------------------------------


def _split_fields(block: bytes) -> list[tuple[str, str]]:
    """(lower-cased name, unfolded and RFC 2047-decoded value) for each field of a header."""
    out: list[tuple[str, str]] = []
    for match in _FIELD.finditer(block):
        field = match.group()
        colon = field.find(b":")
        if colon <= 0:
            continue
        name = field[:colon].rstrip(b" \t").decode("latin-1").lower()
        out.append((name, _field_value(field, colon)))
    return out


def _field_value(field: bytes, colon: int = -1) -> str:
    """The value of one field (name, colon, value and continuation lines)."""
    if colon < 0:
        colon = field.find(b":")
    raw = field[colon + 1 :]
    if b"\n" in raw.rstrip(b"\r\n"):  # continuation lines (a one-line field has nothing to unfold)
        raw = _UNFOLD.sub(b"", raw)
    raw = raw.strip(b" \t\r\n")
    if raw.isascii() and b"=?" not in raw:
        return raw.decode("ascii")
    return decode_words(_to_text(raw))


def _to_text(raw: bytes) -> str:
    """8-bit header octets: UTF-8 (RFC 6532) when valid, else Latin-1 so nothing is lost."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words; whitespace between adjacent words is dropped (§6.2) and
    a word that does not decode is left as written."""
    if "=?" not in text:
        return text
    text = _BETWEEN_WORDS.sub(r"\1", text)
    return _ENCODED_WORD.sub(_decode_word, text)


def _decode_word(match: re.Match[str]) -> str:
    charset = match.group(1).split("*", 1)[0]  # RFC 2231 §5 language suffix
    encoding, payload = match.group(2).upper(), match.group(3)
    try:
        raw = payload.encode("ascii")
        if encoding == "B":
            raw = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
        else:
            raw = binascii.a2b_qp(raw, header=True)
    except (binascii.Error, ValueError):
        return match.group()
    return _decode(raw, charset)


def _decode(raw: bytes, charset: str) -> str:
    """Text in a MIME charset, unknown or unusable names read as UTF-8; never raises. US-ASCII
    is read as UTF-8 too: mislabelled 8-bit text is common and UTF-8 the better guess."""
    name = charset.strip().strip('"').lower() or "utf-8"
    try:
        codec = codecs.lookup(name).name
        if codec != "ascii":
            return raw.decode(codec, "replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        pass  # not a codec, or not a text codec (rot13, base64, …)
    return raw.decode("utf-8", "replace")


# --- body text -----------------------------------------------------------------------------------


def _body_text(message: bytes) -> str:
    """The searchable text below the top-level header, at most MAX_TEXT characters: text/*
    parts decoded, and the header of each encapsulated message."""
    msg = message[:MAX_RAW]
    out: list[str] = []
    total = 0
    for span in leaf_parts(msg):
        if span.message is not None:  # message/rfc822: its header is text of the body
            inner = span.message
            block = msg[inner.start : inner.header_end]
            out.append("\n".join(f"{n}: {v}" for n, v in _split_fields(block)))
            total += len(out[-1])
        if span.type != "text":
            continue
        body = msg[span.body_start : span.end]
        try:
            raw = decode_transfer(body, span.encoding)
        except UnknownCte:
            raw = body  # undecodable: search the octets as they are
        out.append(_decode(raw, dict(span.params).get("charset", "utf-8")))
        total += len(out[-1])
        if total >= MAX_TEXT:
            break
    return "\n".join(out)[:MAX_TEXT]
