"""IMAP4rev2 argument grammar (RFC 9051 §9): atoms, strings, literals, numbers, lists, dates.

A `Cursor` walks one complete command exactly as it came off the wire: lines end in CRLF and a
literal marker `{n}` / `{n+}` (RFC 7888) / `~{n}` (RFC 3516 literal8) is followed by CRLF and n
octets. The reader (parser.py) has already checked the framing; every syntax fault here raises
`BadSyntax`, which the reader turns into a tagged BAD at one boundary.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TypeVar

from roost.imap.sequence import SequenceSet, SequenceSetError

T = TypeVar("T")
MAX_NUMBER = 2**32 - 1
MAX_NUMBER64 = 2**63 - 1  # RFC 9051 §9 number64
# RFC 9051 §9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials /
# resp-specials. ASTRING-CHAR adds "]"; list-char adds "%", "*" and "]".
_ATOM = re.compile(rb"[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+")
_ASTRING = re.compile(rb"[!#$&'+,\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]+")
_LIST_CHARS = re.compile(rb"[!#$%&'*+,\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]+")
_TAG = re.compile(rb"[!#$&',\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]+")
_DIGITS = re.compile(rb"[0-9]+")
_SEQSET = re.compile(rb"[0-9*:,$]+")
_LITERAL = re.compile(rb"(~?)\{([0-9]{1,10})(\+?)\}\r\n")
_FLAG = re.compile(rb"\\?[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+|\\\*")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DATE = re.compile(rb'("?)([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})\1')
_DATE_TIME = re.compile(
    rb'"([ 0-9][0-9])-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{4})"'
)

Value = str | None | list["Value"]  # a generic argument: NIL, atom/string, parenthesised list


class BadSyntax(Exception):
    """The command does not match the grammar; `str(exc)` is the text for the BAD reply."""


class Cursor:
    """A read position in one complete command (all lines and literals, final CRLF included)."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) - 2  # the final CRLF

    def peek(self, token: bytes) -> bool:
        """Whether the input continues with `token` (ASCII case-insensitive)."""
        return self.data[self.pos : self.pos + len(token)].upper() == token.upper()

    def take(self, token: bytes) -> bool:
        """Consume `token` if it comes next (case-insensitive)."""
        if self.peek(token) and self.pos + len(token) <= self.end:
            self.pos += len(token)
            return True
        return False

    def expect(self, token: bytes, what: str | None = None) -> None:
        if not self.take(token):
            raise BadSyntax(f"expected {what or token.decode()}")

    def sp(self) -> None:
        self.expect(b" ", "SP")

    def at_end(self) -> bool:
        return self.pos == self.end

    def finish(self) -> None:
        if not self.at_end():
            raise BadSyntax("unexpected extra arguments")

    def match(self, pattern: re.Pattern[bytes], what: str) -> re.Match[bytes]:
        found = pattern.match(self.data, self.pos, self.end)
        if found is None:
            raise BadSyntax(f"expected {what}")
        self.pos = found.end()
        return found

    def atom(self) -> str:
        return self.match(_ATOM, "atom").group().decode("ascii")

    def tag(self) -> str:
        return self.match(_TAG, "tag").group().decode("ascii")

    def number(self, limit: int = MAX_NUMBER) -> int:
        value = int(self.match(_DIGITS, "number").group())
        if value > limit:
            raise BadSyntax("number out of range")
        return value

    def nz_number(self, limit: int = MAX_NUMBER) -> int:
        value = self.number(limit)
        if value == 0:
            raise BadSyntax("number must not be zero")
        return value

    def sequence_set(self) -> SequenceSet:
        raw = self.match(_SEQSET, "sequence set").group()
        try:
            return SequenceSet.parse(raw)
        except SequenceSetError as exc:
            raise BadSyntax(str(exc)) from None

    def quoted(self) -> str:
        """RFC 9051 §9 quoted: DQUOTE *QUOTED-CHAR DQUOTE, only \\" and \\\\ may be escaped."""
        self.expect(b'"', "quoted string")
        out = bytearray()
        while self.pos < self.end:
            octet = self.data[self.pos]
            self.pos += 1
            if octet == 0x22:
                return _utf8(bytes(out))
            if octet in (0x0D, 0x0A, 0x00):
                break
            if octet == 0x5C:
                escaped = self.data[self.pos : self.pos + 1]
                if escaped not in (b'"', b"\\"):
                    raise BadSyntax("bad escape in quoted string")
                self.pos += 1
                octet = escaped[0]
            out.append(octet)
        raise BadSyntax("unterminated quoted string")

    def literal(self, allow8: bool = False) -> bytes:
        """A literal's octets; `~{n}` (literal8, RFC 3516) only where `allow8`."""
        found = _LITERAL.match(self.data, self.pos)
        if found is None or (found.group(1) and not allow8):
            raise BadSyntax("expected literal")
        size = int(found.group(2))
        start = found.end()
        if start + size > self.end:
            raise BadSyntax("truncated literal")
        self.pos = start + size
        data = self.data[start : self.pos]
        if not found.group(1) and b"\0" in data:
            raise BadSyntax("NUL in a literal")  # RFC 9051 §4.3: CHAR8 excludes %x00
        return data

    def is_string(self) -> bool:
        return self.peek(b'"') or self.peek(b"{") or self.peek(b"~{")

    def string(self) -> str:
        return self.quoted() if self.peek(b'"') else _utf8(self.literal())

    def astring(self) -> str:
        if self.is_string():
            return self.string()
        return self.match(_ASTRING, "astring").group().decode("ascii")

    def nstring(self) -> str | None:
        if self.take_word(b"NIL"):
            return None
        return self.string()

    def take_word(self, word: bytes) -> bool:
        """Consume `word` only as a whole atom (so NIL does not match NILS)."""
        after = self.pos + len(word)
        if not self.peek(word) or after > self.end:
            return False
        if after < self.end and _ASTRING.match(self.data, after, after + 1):
            return False
        self.pos = after
        return True

    def mailbox(self) -> str:
        """RFC 9051 §5.1: INBOX is case-insensitive and always reported as "INBOX"."""
        name = self.astring()
        return "INBOX" if name.upper() == "INBOX" else name

    def list_mailbox(self) -> str:
        if self.is_string():
            return self.string()
        return self.match(_LIST_CHARS, "mailbox pattern").group().decode("ascii")

    def flag(self) -> str:
        return self.match(_FLAG, "flag").group().decode("ascii")

    def paren_list(self, item: Callable[[Cursor], T], *, empty: bool = True) -> list[T]:
        """ "(" [item *(SP item)] ")" """
        self.expect(b"(")
        items: list[T] = []
        if self.take(b")"):
            if not empty:
                raise BadSyntax("empty list")
            return items
        items.append(item(self))
        while not self.take(b")"):
            self.sp()
            items.append(item(self))
        return items

    def flag_list(self) -> tuple[str, ...]:
        return tuple(self.paren_list(Cursor.flag))

    def value(self) -> Value:
        """A generic argument: NIL -> None, atom or string -> str, list -> list."""
        if self.peek(b"("):
            return self.paren_list(Cursor.value)
        if self.take_word(b"NIL"):
            return None
        return self.astring()

    def search_date(self) -> dt.date:
        """RFC 9051 §9 date = date-text / DQUOTE date-text DQUOTE, date-text = d-Mon-yyyy."""
        found = self.match(_DATE, "date (d-Mon-yyyy)")
        return _make_date(found.group(4), found.group(3), found.group(2))

    def date_time(self) -> dt.datetime:
        """RFC 9051 §9 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" with a space-padded day."""
        found = self.match(_DATE_TIME, "date-time")
        day, mon, year, hh, mm, ss, sign, zone = found.groups()
        date = _make_date(year, mon, day.strip())
        minutes = int(zone[:2]) * 60 + int(zone[2:])
        if int(zone[2:]) > 59:
            raise BadSyntax("bad time zone")
        offset = dt.timedelta(minutes=minutes if sign == b"+" else -minutes)
        try:
            return dt.datetime.combine(
                date, dt.time(int(hh), int(mm), int(ss)), tzinfo=dt.timezone(offset)
            )
        except ValueError:
            raise BadSyntax("bad time") from None


def _make_date(year: bytes, month: bytes, day: bytes) -> dt.date:
    name = month.decode("ascii").capitalize()
    if name not in MONTHS:
        raise BadSyntax("bad month")
    try:
        return dt.date(int(year), MONTHS.index(name) + 1, int(day))
    except ValueError:
        raise BadSyntax("bad date") from None


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSyntax("string is not UTF-8") from None
