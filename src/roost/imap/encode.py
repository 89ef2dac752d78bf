"""IMAP value encoding for server responses (RFC 9051 §4, §9): atom, quoted, literal, NIL, lists.

A str is sent as a quoted string when it is short 7-bit text without CR, LF or NUL, and as a
literal `{n}\\r\\n` + octets otherwise; with `astring=True` a plain atom is used where the
grammar allows one (mailbox names). `Atom` is sent as is (flags, keywords), `Literal8` as
RFC 3516 `~{n}` for BINARY[] data, and a `SequenceSet` in compact form.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from roost.imap.errors import LocalProtocolError
from roost.imap.sequence import SequenceSet

MAX_QUOTED = 1000  # longer strings go as literals, which keeps response lines short
_ASTRING_ATOM = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]+")
_QUOTABLE = re.compile(r"[\x01-\x09\x0b\x0c\x0e-\x7f]*")
_ATOM_TEXT = re.compile(
    r"\\?[!#$&'+,\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~*]+(?:\[[^\r\n\]]*\](?:<[0-9]+>)?)?"
)


@dataclass(frozen=True, slots=True)
class Atom:
    """Sent verbatim: a flag (\\Seen), keyword, capability or item name."""

    text: str

    def __post_init__(self) -> None:
        if not _ATOM_TEXT.fullmatch(self.text):
            raise LocalProtocolError(f"not an atom: {self.text!r}")


@dataclass(frozen=True, slots=True)
class Literal8:
    """RFC 3516 §4.2 literal8 (~{n}), the only form that may carry NUL octets."""

    data: bytes


Encodable = None | int | str | bytes | Atom | Literal8 | SequenceSet | Sequence["Encodable"]


def encode_value(value: Encodable, *, astring: bool = False) -> bytes:
    """The wire form of `value`; see the module docstring for the choices."""
    if value is None:
        return b"NIL"
    if isinstance(value, bool):
        raise LocalProtocolError("booleans have no IMAP form")
    if isinstance(value, int):
        return str(value).encode("ascii")
    if isinstance(value, str):
        return encode_string(value, astring=astring)
    if isinstance(value, bytes):
        return literal(value)
    if isinstance(value, Atom):
        return value.text.encode("ascii")
    if isinstance(value, Literal8):
        return b"~{%d}\r\n" % len(value.data) + value.data
    if isinstance(value, SequenceSet):
        return str(value).encode("ascii")
    return b"(" + b" ".join(encode_value(v, astring=astring) for v in value) + b")"


def encode_string(text: str, *, astring: bool = False) -> bytes:
    """Atom (astring positions only, never "NIL"), quoted string, or literal."""
    if astring and _ASTRING_ATOM.fullmatch(text) and text.upper() != "NIL":
        return text.encode("ascii")
    if len(text) <= MAX_QUOTED and _QUOTABLE.fullmatch(text):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return b'"' + escaped.encode("ascii") + b'"'
    return literal(text.encode("utf-8"))


def literal(data: bytes) -> bytes:
    """RFC 9051 §4.3 literal: {n} CRLF and the octets."""
    return b"{%d}\r\n" % len(data) + data


def text_line(text: str) -> bytes:
    """Human-readable resp-text: must not hold CR or LF (our bug if it does)."""
    if "\r" in text or "\n" in text:
        raise LocalProtocolError("response text must not contain CR or LF")
    return text.encode("utf-8")
