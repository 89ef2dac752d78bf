"""SMTP command-line grammar (RFC 5321 §4.1.1, §4.1.2) with no state.

The connection hands each CRLF-terminated line here: `decode_line` rejects octets no command may
hold, `command_kind` finds the verb, and `parse_arguments` turns the rest into an event. Every
peer mistake raises `ParseError` carrying the reply to send.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from roost.smtp import reply as r
from roost.smtp._state import Kind
from roost.smtp.address import AddressError, Utf8AddressError, parse_path, split_path
from roost.smtp.events import (
    Auth,
    AuthResponse,
    Bdat,
    Data,
    Ehlo,
    Event,
    Expn,
    Help,
    MailFrom,
    Noop,
    Quit,
    RcptTo,
    Rset,
    StartTls,
    Vrfy,
)
from roost.smtp.extensions import ParamError, parse_mail_params, parse_rcpt_params, split_params

# RFC 3030 §2: larger chunks are refused; the connection then cannot resynchronise and closes.
MAX_BDAT_SIZE = 2**31
_FROM = re.compile(r"FROM: ?", re.IGNORECASE)  # RFC 5321 §4.1.1.2 "MAIL FROM:" (+ lenient SP)
_TO = re.compile(r"TO: ?", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]{1,20}")
_MECHANISM = re.compile(r"[A-Z0-9_-]{1,20}")  # RFC 4422 §3.1 sasl-mech

_VERBS: dict[str, Kind] = {
    "EHLO": Kind.EHLO,
    "HELO": Kind.EHLO,
    "MAIL": Kind.MAIL,
    "RCPT": Kind.RCPT,
    "DATA": Kind.DATA,
    "BDAT": Kind.BDAT,
    "RSET": Kind.RSET,
    "NOOP": Kind.NOOP,
    "QUIT": Kind.QUIT,
    "HELP": Kind.HELP,
    "VRFY": Kind.VRFY,
    "EXPN": Kind.EXPN,
    "STARTTLS": Kind.STARTTLS,
    "AUTH": Kind.AUTH,
}


class ParseError(Exception):
    """The line cannot be accepted; `reply` is the answer to send."""

    def __init__(self, reply: r.Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


class BdatTooLargeError(ParseError):
    """BDAT announced more bytes than we will read: the stream cannot be resynchronised."""


@dataclass(frozen=True, slots=True)
class ParseContext:
    smtputf8: bool = True  # SMTPUTF8 is offered
    chunking: bool = True  # BDAT is offered
    utf8_transaction: bool = False  # the current MAIL carried SMTPUTF8 (RFC 6531 §3.4)


def decode_line(raw: bytes) -> str:
    """Decode a command line (without its CRLF).

    RFC 5321 §2.3.8: bare CR and LF are not line ends and must not appear in commands, so a
    line holding one (or a NUL, or invalid UTF-8, RFC 6531 §3.3) is refused as a whole.
    """
    if b"\0" in raw or b"\r" in raw or b"\n" in raw:
        raise ParseError(r.C500_BAD_OCTETS)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(r.C500_BAD_OCTETS) from None


def command_kind(line: str, ctx: ParseContext) -> tuple[Kind, str, str]:
    """Return (kind, upper-cased verb, argument text); commands are case-insensitive (§2.4)."""
    verb, _, rest = line.partition(" ")
    verb = verb.upper()
    kind = _VERBS.get(verb)
    if kind is None:
        raise ParseError(r.C500_UNRECOGNIZED)
    if kind is Kind.BDAT and not ctx.chunking:
        raise ParseError(r.C500_BDAT_DISABLED)
    return kind, verb, rest.rstrip(" ")


def parse_arguments(kind: Kind, verb: str, rest: str, ctx: ParseContext) -> Event:
    """Build the event for a command whose verb and sequence were already accepted."""
    if kind is Kind.MAIL:
        return _parse_mail(rest, ctx)
    if kind is Kind.RCPT:
        return _parse_rcpt(rest, ctx)
    if kind is Kind.BDAT:
        return parse_bdat(rest)
    if kind is Kind.AUTH:
        return _parse_auth(rest)
    return _parse_simple(kind, verb, rest)


def _parse_simple(kind: Kind, verb: str, rest: str) -> Event:
    if kind is Kind.EHLO:
        # RFC 5321 §4.1.1.1: EHLO/HELO take exactly one Domain or address-literal.
        if not rest or " " in rest:
            raise ParseError(r.C501_SYNTAX.with_text(f"Syntax: {verb} <domain>"))
        return Ehlo(rest, extended=verb == "EHLO")
    if kind is Kind.NOOP:
        return Noop()  # RFC 5321 §4.1.1.9: a NOOP argument is ignored
    if kind is Kind.HELP:
        return Help(rest)
    if kind in (Kind.VRFY, Kind.EXPN):
        if not rest:
            raise ParseError(r.C501_SYNTAX.with_text(f"Syntax: {verb} <string>"))
        return Vrfy(rest) if kind is Kind.VRFY else Expn(rest)
    if rest:
        raise ParseError(r.C501_SYNTAX.with_text(f"{verb} takes no arguments"))
    return _NO_ARGS[kind]


_NO_ARGS: dict[Kind, Event] = {
    Kind.DATA: Data(),
    Kind.RSET: Rset(),
    Kind.QUIT: Quit(),
    Kind.STARTTLS: StartTls(),
}


def _split_path_params(rest: str, prefix: re.Pattern[str], bad: r.Reply) -> tuple[str, str]:
    match = prefix.match(rest)
    if not match:
        raise ParseError(r.C501_SYNTAX)
    path, params = split_path(rest[match.end() :])
    if not path:
        raise ParseError(bad)
    if params and not params.startswith(" "):
        raise ParseError(bad)
    return path, params


def _parse_mail(rest: str, ctx: ParseContext) -> MailFrom:
    path, param_text = _split_path_params(rest, _FROM, r.C501_BAD_SENDER)
    try:
        params = split_params(param_text)
        utf8 = parse_mail_params(params, smtputf8_enabled=ctx.smtputf8).smtputf8
    except ParamError as exc:
        raise ParseError(exc.reply) from None
    try:
        address = parse_path(path, allow_null=True, allow_postmaster=False, utf8=utf8)
    except Utf8AddressError:
        raise ParseError(r.C553_UTF8_REQUIRED) from None
    except AddressError:
        raise ParseError(r.C501_BAD_SENDER) from None
    return MailFrom(address, params)


def _parse_rcpt(rest: str, ctx: ParseContext) -> RcptTo:
    path, param_text = _split_path_params(rest, _TO, r.C501_BAD_RECIPIENT)
    try:
        params = split_params(param_text)
        parse_rcpt_params(params)
    except ParamError as exc:
        raise ParseError(exc.reply) from None
    try:
        address = parse_path(
            path, allow_null=False, allow_postmaster=True, utf8=ctx.utf8_transaction
        )
    except Utf8AddressError:
        raise ParseError(r.C553_UTF8_REQUIRED) from None
    except AddressError:
        raise ParseError(r.C501_BAD_RECIPIENT) from None
    return RcptTo(address, params)


def parse_bdat(rest: str) -> Bdat:
    """RFC 3030 §2: "BDAT" SP chunk-size [ SP end-marker ]; end-marker = "LAST"."""
    parts = rest.split(" ")
    if not 1 <= len(parts) <= 2 or not parts[0].isascii() or not parts[0].isdigit():
        raise ParseError(r.C501_SYNTAX.with_text("Syntax: BDAT <size> [LAST]"))
    if len(parts) == 2 and parts[1].upper() != "LAST":
        raise ParseError(r.C501_SYNTAX.with_text("Syntax: BDAT <size> [LAST]"))
    if not _DIGITS.fullmatch(parts[0]) or int(parts[0]) > MAX_BDAT_SIZE:
        raise BdatTooLargeError(r.C501_BDAT_TOO_BIG)
    return Bdat(int(parts[0]), last=len(parts) == 2)


def _parse_auth(rest: str) -> Auth:
    """RFC 4954 §4: AUTH mechanism [initial-response]; "=" is an empty initial response."""
    parts = rest.split(" ")
    mechanism = parts[0].upper()
    if not _MECHANISM.fullmatch(mechanism) or len(parts) > 2:
        raise ParseError(r.C501_SYNTAX.with_text("Syntax: AUTH <mechanism> [initial-response]"))
    if len(parts) == 1:
        return Auth(mechanism, None)
    return Auth(mechanism, decode_base64(parts[1], allow_equals=True))


def decode_base64(text: str, *, allow_equals: bool) -> bytes:
    """Strict base64 (RFC 4954 §4): anything malformed is a 501 5.5.2 and ends the exchange."""
    if allow_equals and text == "=":
        return b""
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ParseError(r.C501_BAD_BASE64) from None


def parse_auth_response(raw: bytes) -> AuthResponse:
    """A line inside a SASL exchange: "*" cancels (RFC 4954 §4), otherwise base64."""
    line = decode_line(raw)
    if line == "*":
        return AuthResponse(b"", cancelled=True)
    if line == "":
        return AuthResponse(b"")
    return AuthResponse(decode_base64(line, allow_equals=False))
