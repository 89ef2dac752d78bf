"""IMAP4rev2 server responses (RFC 9051 §7): status responses with codes, untagged data,
continuations. Every function returns the complete wire bytes, CRLF included.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from roost.imap.encode import Atom, Encodable, encode_string, encode_value, text_line
from roost.imap.grammar import MONTHS
from roost.imap.sequence import SequenceSet

CRLF = b"\r\n"


class Status(enum.Enum):
    OK = "OK"
    NO = "NO"
    BAD = "BAD"
    BYE = "BYE"  # untagged only
    PREAUTH = "PREAUTH"  # untagged greeting only


@dataclass(frozen=True, slots=True)
class Code:
    """A response code (RFC 9051 §7.1): `[NAME args]`; build them with the helpers below."""

    name: str
    args: tuple[Encodable, ...] = ()

    def encode(self) -> bytes:
        parts = [self.name.encode("ascii"), *(encode_value(a) for a in self.args)]
        return b"[" + b" ".join(parts) + b"]"


def tagged(tag: str, status: Status, text: str, code: Code | None = None) -> bytes:
    """`tag OK [code] text` — the completion of a command."""
    if status in (Status.BYE, Status.PREAUTH):
        raise ValueError(f"{status.value} is never tagged")
    return _status_line(tag.encode("ascii"), status, text, code)


def untagged(status: Status, text: str, code: Code | None = None) -> bytes:
    """`* OK [code] text`, `* BYE ...`, `* PREAUTH ...`."""
    return _status_line(b"*", status, text, code)


def _status_line(prefix: bytes, status: Status, text: str, code: Code | None) -> bytes:
    parts = [prefix, status.value.encode("ascii")]
    if code is not None:
        parts.append(code.encode())
    parts.append(text_line(text or status.value))  # RFC 9051 §9: resp-text needs text
    return b" ".join(parts) + CRLF


def continuation(text: str = "Ready") -> bytes:
    """`+ text` (RFC 9051 §7.5): go ahead with a literal, or IDLE has started."""
    return b"+ " + text_line(text) + CRLF


def challenge(data: bytes) -> bytes:
    """`+ base64` for an AUTHENTICATE exchange (RFC 9051 §6.2.2); empty data is "+ "."""
    return b"+ " + base64.b64encode(data) + CRLF


# Response codes (RFC 9051 §7.1; RFC 4315 UIDPLUS; RFC 7162 CONDSTORE/QRESYNC).
def flag_atoms(flags: Iterable[str]) -> tuple[Atom, ...]:
    return tuple(Atom(f) for f in flags)


def code_alert() -> Code:
    return Code("ALERT")


def code_trycreate() -> Code:
    return Code("TRYCREATE")


def code_closed() -> Code:
    return Code("CLOSED")


def code_read_only() -> Code:
    return Code("READ-ONLY")


def code_read_write() -> Code:
    return Code("READ-WRITE")


def code_nomodseq() -> Code:
    return Code("NOMODSEQ")


def code_uidvalidity(value: int) -> Code:
    return Code("UIDVALIDITY", (value,))


def code_uidnext(value: int) -> Code:
    return Code("UIDNEXT", (value,))


def code_highestmodseq(value: int) -> Code:
    return Code("HIGHESTMODSEQ", (value,))


def code_permanentflags(flags: Iterable[str]) -> Code:
    return Code("PERMANENTFLAGS", (flag_atoms(flags),))


def code_capability(capabilities: Iterable[str]) -> Code:
    return Code("CAPABILITY", flag_atoms(capabilities))


def code_appenduid(uidvalidity: int, uids: SequenceSet) -> Code:
    return Code("APPENDUID", (uidvalidity, uids))


def code_copyuid(uidvalidity: int, source: SequenceSet, dest: SequenceSet) -> Code:
    return Code("COPYUID", (uidvalidity, source, dest))


def code_modified(numbers: SequenceSet) -> Code:
    return Code("MODIFIED", (numbers,))


def code(name: str) -> Code:
    """Any argument-less code: UNAVAILABLE, AUTHENTICATIONFAILED, OVERQUOTA, NONEXISTENT, …"""
    return Code(name)


# Untagged data (RFC 9051 §7.2-7.5).
def _star(*parts: bytes) -> bytes:
    return b"* " + b" ".join(parts) + CRLF


def capability(capabilities: Iterable[str]) -> bytes:
    return _star(b"CAPABILITY", *(Atom(c).text.encode("ascii") for c in capabilities))


def enabled(capabilities: Iterable[str]) -> bytes:
    return _star(b"ENABLED", *(Atom(c).text.encode("ascii") for c in capabilities))


def exists(count: int) -> bytes:
    return _star(b"%d EXISTS" % count)


def expunge(number: int) -> bytes:
    return _star(b"%d EXPUNGE" % number)


def flags(names: Iterable[str]) -> bytes:
    return _star(b"FLAGS", encode_value(flag_atoms(names)))


def vanished(uids: SequenceSet, *, earlier: bool = False) -> bytes:
    """RFC 7162 §3.2.10: `* VANISHED [(EARLIER)] uids`."""
    head = b"VANISHED (EARLIER)" if earlier else b"VANISHED"
    return _star(head, str(uids).encode("ascii"))


def fetch(number: int, items: Sequence[tuple[str, Encodable]]) -> bytes:
    """`* n FETCH (NAME value ...)`; names are sent verbatim (e.g. "BODY[1.2]<0>")."""
    body = b" ".join(Atom(name).text.encode("ascii") + b" " + encode_value(v) for name, v in items)
    return _star(b"%d FETCH (" % number + body + b")")


def list_mailbox(
    attributes: Iterable[str],
    delimiter: str | None,
    name: str,
    extended: Sequence[tuple[str, Encodable]] = (),
    *,
    lsub: bool = False,
) -> bytes:
    """`* LIST (\\HasNoChildren) "/" name [extended items]` (RFC 9051 §7.3.1, RFC 5258)."""
    parts = [
        b"LSUB" if lsub else b"LIST",
        encode_value(flag_atoms(attributes)),
        b"NIL" if delimiter is None else encode_string(delimiter),
        encode_string(name, astring=True),
    ]
    if extended:
        pairs = [encode_string(k) + b" " + encode_value(v) for k, v in extended]
        parts.append(b"(" + b" ".join(pairs) + b")")
    return _star(*parts)


def status(mailbox: str, items: Mapping[str, int]) -> bytes:
    """`* STATUS name (MESSAGES n UIDNEXT n ...)`."""
    body = b" ".join(b"%s %d" % (Atom(k).text.encode("ascii"), v) for k, v in items.items())
    return _star(b"STATUS", encode_string(mailbox, astring=True), b"(" + body + b")")


def search(numbers: Iterable[int], modseq: int | None = None) -> bytes:
    """IMAP4rev1 `* SEARCH 1 2 3 [(MODSEQ n)]` (RFC 3501 §7.2.5, RFC 7162 §3.1.5)."""
    # A list's repr is made in C, a third faster than joining str() of each number.
    listed = str(list(numbers))[1:-1].replace(",", "").encode("ascii")
    parts = [b"SEARCH", listed] if listed else [b"SEARCH"]
    if modseq is not None:
        parts.append(b"(MODSEQ %d)" % modseq)
    return _star(*parts)


def esearch(tag: str | None, results: Sequence[tuple[str, Encodable]], *, uid: bool) -> bytes:
    """`* ESEARCH (TAG "a") UID MIN 1 COUNT 3 ALL 1:3` (RFC 9051 §7.3.4)."""
    parts = [b"ESEARCH"]
    if tag is not None:
        parts.append(b"(TAG " + encode_string(tag) + b")")
    if uid:
        parts.append(b"UID")
    parts.extend(Atom(k).text.encode("ascii") + b" " + encode_value(v) for k, v in results)
    return _star(*parts)


def id_response(params: Sequence[tuple[str, str | None]] | None) -> bytes:
    """RFC 2971 `* ID (...)` or `* ID NIL`."""
    if params is None:
        return _star(b"ID NIL")
    return _star(b"ID", encode_value([v for pair in params for v in pair]))


def date_time(value: dt.datetime) -> str:
    """RFC 9051 §9 date-time text for INTERNALDATE: "dd-Mon-yyyy hh:mm:ss +zzzz"."""
    offset = value.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    month = MONTHS[value.month - 1]
    return f"{value.day:2d}-{month}-{value.year:04d} {value:%H:%M:%S} {sign}{hours:02d}{mins:02d}"
