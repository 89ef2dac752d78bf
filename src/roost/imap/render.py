"""FETCH section data: the octets of BODY[...] and BINARY[...] (RFC 9051 §6.4.5, §7.5.2;
RFC 3516) cut from the stored message bytes.

Pure functions over the full message as stored (CRLF normally; bare LF tolerated as in
`roost.message.structure`). The top-level header paths (HEADER, HEADER.FIELDS[.NOT]) only find
the end of the header and never walk the MIME tree, because clients list mailboxes with
`BODY.PEEK[HEADER.FIELDS (...)]` over thousands of messages.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from roost.imap.fetch import Section
from roost.message.structure import part_span

__all__ = [
    "HeaderReader",
    "InvalidEncoding",
    "UnknownCte",
    "binary_data",
    "binary_size",
    "decode_transfer",
    "header_end",
    "header_fields",
    "header_reader",
    "section_data",
    "section_label",
]


class UnknownCte(Exception):
    """BINARY of a part whose Content-Transfer-Encoding we cannot decode: the session answers
    `NO [UNKNOWN-CTE]` (RFC 3516 §4.3, RFC 9051 §7.1)."""


class InvalidEncoding(UnknownCte):
    """The part claims base64 but holds other octets; also answered with [UNKNOWN-CTE]."""


# A field: a line that does not start with WSP and the continuation lines below it.
_FIELD = re.compile(rb"[^\n]*(?:\n|\Z)(?:[ \t][^\n]*(?:\n|\Z))*")
_WSP = re.compile(rb"[ \t\r\n]+")
_IDENTITY = frozenset(("7bit", "8bit", "binary"))


@lru_cache(maxsize=256)
def section_label(section: Section, *, origin: int | None) -> str:
    """The item name in the FETCH response: `BODY[1.HEADER.FIELDS (FROM TO)]<0>`.

    PEEK never appears (RFC 9051 §7.5.2) and only the origin octet of a partial is shown. For
    BINARY the origin is shown as RFC 3516 §4.2's prose and Dovecot do, although the ABNF omits
    it (RFC 9051 erratum 7246).
    """
    inner = ".".join(str(n) for n in section.part)
    if section.specifier is not None:
        spec = section.specifier
        if section.fields:
            spec += " (" + " ".join(_field_name(f) for f in section.fields) + ")"
        inner = f"{inner}.{spec}" if inner else spec
    label = f"{'BINARY' if section.binary else 'BODY'}[{inner}]"
    return label if origin is None else f"{label}<{origin}>"


def _field_name(name: str) -> str:
    """Field names are astrings: sent as an atom when possible, else quoted."""
    if name and re.fullmatch(r"[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def header_end(message: bytes) -> int:
    """Where the body starts: the length of BODY[HEADER] including the blank line (the whole
    message when there is no blank line). Only the header is scanned."""
    return _header_bounds(message, 0, len(message))[1]


def _header_bounds(msg: bytes, start: int, end: int) -> tuple[int, int]:
    """(end of the fields, start of the body) of the entity at msg[start:end]; a blank line is
    CRLF or LF at the start of a line, as in `structure._split_header`."""
    if msg.startswith((b"\r\n", b"\n"), start, end):
        return start, start + (2 if msg[start : start + 1] == b"\r" else 1)
    crlf = msg.find(b"\n\r\n", start, end)
    lf = msg.find(b"\n\n", start, end if crlf < 0 else crlf + 1)
    if lf >= 0:
        return lf + 1, lf + 2
    if crlf >= 0:
        return crlf + 1, crlf + 3
    if end > start and msg[end - 1 : end] == b"\r" and (end - 1 == start or msg[end - 2] == 10):
        return end - 1, end  # a last line of a lone CR
    return end, end


def header_fields(block: bytes, names: Iterable[str], *, exclude: bool) -> bytes:
    """The fields of a header block named in `names` (or, with `exclude`, all others), in
    order, continuation lines kept; names compare case-insensitively (RFC 9051 §6.4.5)."""
    wanted = frozenset(n.upper().encode("utf-8", "replace") for n in names)
    if not exclude:
        # One C-level regex pass picks the named fields (with their continuation lines) out of
        # the block; the loop below is the general path for HEADER.FIELDS.NOT.
        return b"".join(_fields_matcher(wanted).findall(block))
    out: list[bytes] = []
    for match in _FIELD.finditer(block):
        field = match.group()
        if not field:
            continue
        colon = field.find(b":")
        name = field[:colon].rstrip(b" \t").upper() if colon > 0 else None
        if (name in wanted) != exclude:
            out.append(field)
    return b"".join(out)


@lru_cache(maxsize=64)
def _fields_matcher(names: frozenset[bytes]) -> re.Pattern[bytes]:
    """Lines starting a field named in `names` (any case; blanks allowed before the colon, as
    the loop above allows) and their continuation lines."""
    alternatives = b"|".join(re.escape(n) for n in sorted(names))
    return re.compile(
        rb"^(?:" + alternatives + rb")[ \t]*:[^\n]*(?:\n|\Z)(?:[ \t][^\n]*(?:\n|\Z))*",
        re.IGNORECASE | re.MULTILINE,
    )


HeaderReader = Callable[[bytes], bytes]


def header_reader(section: Section) -> HeaderReader:
    """section_data(message, section) for a top-level HEADER, HEADER.FIELDS or
    HEADER.FIELDS.NOT section (not BINARY), with the field matcher chosen once: FETCH of header
    fields over a whole mailbox calls it per message. `message` may stop after the header."""
    if section.part or section.binary or not (section.specifier or "").startswith("HEADER"):
        raise ValueError("not a top-level header section")
    spec, partial = section.specifier, section.partial
    matcher = after_newline = None
    if spec == "HEADER.FIELDS":
        names = frozenset(n.upper().encode("utf-8", "replace") for n in section.fields)
        matcher, after_newline = _fields_matcher(names), fields_after_newline(names)

    def read(message: bytes) -> bytes:
        fields_end, body_start = _header_bounds(message, 0, len(message))
        if spec == "HEADER":
            data = message[:body_start]
        elif after_newline is not None and message.endswith(b"\n", 0, fields_end):
            # The usual case, the fields end with a line end: the same fields as `matcher`
            # finds, by a pattern that starts with a literal "\n" (several times faster).
            found = after_newline.findall(b"\n" + message[:fields_end])
            chosen = b"\n".join(found) + b"\n" if found else b""
            data = chosen + (message[fields_end:body_start] or b"\r\n")
        elif matcher is not None:
            chosen = b"".join(matcher.findall(message, 0, fields_end))
            blank = message[fields_end:body_start] or b"\r\n"  # as in _entity_data
            if chosen and not chosen.endswith(b"\n"):
                chosen += b"\r\n"
            data = chosen + blank
        else:
            data = _entity_data(message, 0, fields_end, body_start, len(message), section)
        if partial is None:
            return data
        return data[partial[0] : partial[0] + partial[1]]

    return read


@lru_cache(maxsize=64)
def fields_after_newline(names: frozenset[bytes]) -> re.Pattern[bytes]:
    """_fields_matcher's fields in a block that starts with an extra "\n" and ends with a line
    end: each found without its last line end (the "\n" that starts the next match)."""
    alternatives = b"|".join(re.escape(n) for n in sorted(names))
    # A look at the first octet turns most lines (Received, X-..., Content-...) down at once.
    firsts = sorted({n[:1] for n in names})
    look = b"(?=[" + b"".join(re.escape(c) for c in firsts) + b"])" if b"" not in firsts else b""
    return re.compile(
        rb"\n" + look + rb"((?:" + alternatives + rb")[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*)",
        re.IGNORECASE,
    )


def section_data(message: bytes, section: Section) -> bytes | None:
    """The octets of BODY[section] (or BINARY[section]) with any partial applied.

    A part that does not exist, or HEADER/TEXT on a part that is not message/rfc822, gives None
    (NIL): the value is an nstring (RFC 9051 §7.5.2), and NIL is what Dovecot and Gmail send
    for a missing section. BINARY raises UnknownCte for an encoding it cannot remove.
    """
    data = binary_data(message, section.part) if section.binary else _body_data(message, section)
    if data is None or section.partial is None:
        return data
    offset, length = section.partial
    return data[offset : offset + length]  # past the end: the empty string (RFC 9051 §6.4.5)


def _body_data(message: bytes, section: Section) -> bytes | None:
    spec = section.specifier
    if not section.part:
        if spec is None:
            return message
        fields_end, body_start = _header_bounds(message, 0, len(message))
        return _entity_data(message, 0, fields_end, body_start, len(message), section)
    try:
        span = part_span(message, section.part)
    except KeyError:
        return None
    if spec is None:
        return message[span.body_start : span.end]
    if spec == "MIME":  # the part's own MIME header, blank line included
        return message[span.start : span.body_start]
    # RFC 9051 §6.4.5: HEADER.* and TEXT after a part number need a message/rfc822 part.
    inner = span.message
    if inner is None:
        return None
    return _entity_data(
        message, inner.start, inner.header_end, inner.body_start, inner.end, section
    )


def _entity_data(
    message: bytes, start: int, fields_end: int, body_start: int, end: int, section: Section
) -> bytes:
    """HEADER, HEADER.FIELDS[.NOT] or TEXT of the message at message[start:end]."""
    if section.specifier == "TEXT":
        return message[body_start:end]
    if section.specifier == "HEADER":
        return message[start:body_start]
    chosen = header_fields(
        message[start:fields_end],
        section.fields,
        exclude=section.specifier == "HEADER.FIELDS.NOT",
    )
    # The blank line is always part of header data (RFC 9051 §7.5.2).
    blank = message[fields_end:body_start] or b"\r\n"
    if chosen and not chosen.endswith(b"\n"):
        chosen += b"\r\n"  # a last field without a line end (no body, no blank line)
    return chosen + blank


def binary_data(message: bytes, part: tuple[int, ...]) -> bytes | None:
    """The body of a part with its Content-Transfer-Encoding removed (RFC 3516 §4.2); `()` is
    the whole message as stored. None when the part does not exist."""
    if not part:
        return message
    try:
        span = part_span(message, part)
    except KeyError:
        return None
    return decode_transfer(message[span.body_start : span.end], span.encoding)


def binary_size(message: bytes, part: tuple[int, ...]) -> int:
    """BINARY.SIZE: the decoded size (RFC 3516 §4.2). A missing part counts 0, since the
    value is a number and cannot be NIL."""
    data = binary_data(message, part)
    return 0 if data is None else len(data)


def decode_transfer(body: bytes, encoding: str) -> bytes:
    """Remove a Content-Transfer-Encoding (RFC 2045 §6): base64 ignoring whitespace but
    refusing other octets, quoted-printable leniently, identity for 7bit/8bit/binary."""
    encoding = encoding.strip().lower()
    if encoding in _IDENTITY or not encoding:
        return body
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    if encoding == "base64":
        return _base64(body)
    raise UnknownCte(encoding)


def _base64(body: bytes) -> bytes:
    data = _WSP.sub(b"", body)
    stripped = data.rstrip(b"=")
    if len(data) - len(stripped) > 2 or len(stripped) % 4 == 1:
        raise InvalidEncoding("base64 data of impossible length")
    padded = stripped + b"=" * (-len(stripped) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except binascii.Error as exc:
        raise InvalidEncoding(f"bad base64: {exc}") from None
