"""SMTP service extensions: the EHLO keyword list (RFC 5321 §4.1.1.1) and the typed MAIL/RCPT
parameters of SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), AUTH (RFC 4954 §5)
and DSN (RFC 3461).

The connection validates every MAIL/RCPT parameter with these parsers before it emits the
event, so a session can re-parse `MailFrom.params` with `parse_mail_params` and never fail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from roost.smtp.reply import C501_SYNTAX, C555_UNKNOWN_PARAM, Reply

# RFC 5321 §4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
# esmtp-value = 1*(%d33-60 / %d62-126), plus UTF8-non-ascii under RFC 6531 §3.3.
_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e\u0080-\U0010ffff]+")
_XTEXT_HEX = re.compile(r"\+([0-9A-F]{2})")
# RFC 3461 §4.4: ENVID is at most 100 characters.
MAX_ENVID = 100
# RFC 1870 §3: the SIZE value is at most 20 digits.
_SIZE = re.compile(r"[0-9]{1,20}")

NotifyValue = Literal["NEVER", "SUCCESS", "FAILURE", "DELAY"]
_NOTIFY_VALUES: frozenset[str] = frozenset({"NEVER", "SUCCESS", "FAILURE", "DELAY"})


class ParamError(Exception):
    """A MAIL/RCPT parameter is malformed or unknown; `reply` is the answer to send."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


@dataclass(frozen=True, slots=True)
class MailParams:
    size: int | None = None
    body: Literal["7BIT", "8BITMIME"] | None = None
    smtputf8: bool = False
    ret: Literal["FULL", "HDRS"] | None = None
    envid: str | None = None  # xtext-decoded (RFC 3461 §4)
    auth: str | None = None  # xtext-decoded mailbox, or "<>" (RFC 4954 §5)


@dataclass(frozen=True, slots=True)
class RcptParams:
    notify: tuple[NotifyValue, ...] | None = None
    orcpt: str | None = None  # "addr-type;decoded-address" (RFC 3461 §4.2)


def ehlo_lines(
    hostname: str,
    greeting: str,
    *,
    size: int,
    starttls: bool,
    auth_mechanisms: Sequence[str],
    chunking: bool,
    smtputf8: bool,
    dsn: bool,
) -> Reply:
    """The 250 reply to EHLO: the greeting line, then one keyword per line (RFC 5321 §4.1.1.1).

    The reply carries no enhanced status code (RFC 2034 §3). `size` 0 advertises "no fixed
    limit" (RFC 1870 §4).
    """
    lines = [f"{hostname} {greeting}".rstrip(), "PIPELINING", f"SIZE {size}", "8BITMIME"]
    if smtputf8:
        lines.append("SMTPUTF8")
    if starttls:
        lines.append("STARTTLS")
    lines.append("ENHANCEDSTATUSCODES")
    if auth_mechanisms:
        lines.append("AUTH " + " ".join(m.upper() for m in auth_mechanisms))
    if chunking:
        lines.append("CHUNKING")
    if dsn:
        lines.append("DSN")
    return Reply(250, "", "\n".join(lines))


def split_params(text: str) -> dict[str, str | None]:
    """Split "KEY=VALUE KEY2" into {KEY: VALUE, KEY2: None}; keys upper-cased.

    Raises ParamError(501) for a malformed or repeated parameter (RFC 5321 §4.1.2).
    """
    params: dict[str, str | None] = {}
    for item in text.split():
        key, eq, value = item.partition("=")
        if not _KEYWORD.fullmatch(key) or (eq and not _VALUE.fullmatch(value)):
            raise ParamError(C501_SYNTAX.with_text(f"Malformed parameter {item!r}"))
        if key.upper() in params:
            raise ParamError(C501_SYNTAX.with_text(f"Duplicate parameter {key.upper()}"))
        params[key.upper()] = value if eq else None
    return params


def xtext_decode(text: str) -> str:
    """Decode RFC 3461 §4 xtext ("+" followed by two upper-case hex digits); ParamError if bad."""
    if "+" not in text:
        return text
    decoded = _XTEXT_HEX.sub(lambda m: chr(int(m.group(1), 16)), text)
    if text.count("+") != len(_XTEXT_HEX.findall(text)):
        raise ParamError(C501_SYNTAX.with_text("Invalid xtext encoding"))
    return decoded


def _bad(name: str) -> ParamError:
    return ParamError(C501_SYNTAX.with_text(f"Invalid {name} parameter"))


def _need(params: Mapping[str, str | None], key: str) -> str:
    value = params[key]
    if value is None:
        raise _bad(key)
    return value


def _parse_size(value: str) -> int:
    if not _SIZE.fullmatch(value):
        raise _bad("SIZE")
    return int(value)


def _parse_body(value: str) -> Literal["7BIT", "8BITMIME"]:
    # RFC 6152 §2 / RFC 1652: BODY=7BIT or BODY=8BITMIME; BINARYMIME (RFC 3030) is not offered.
    upper = value.upper()
    if upper == "7BIT":
        return "7BIT"
    if upper == "8BITMIME":
        return "8BITMIME"
    raise _bad("BODY")


def _parse_ret(value: str) -> Literal["FULL", "HDRS"]:
    upper = value.upper()
    if upper == "FULL":
        return "FULL"
    if upper == "HDRS":
        return "HDRS"
    raise _bad("RET")


def _parse_envid(value: str) -> str:
    decoded = xtext_decode(value)
    if len(value) > MAX_ENVID:
        raise _bad("ENVID")
    return decoded


def parse_mail_params(
    params: Mapping[str, str | None], *, smtputf8_enabled: bool = True
) -> MailParams:
    """Typed MAIL FROM parameters; ParamError(555) for an unknown one, (501) for a bad value."""
    fields: dict[str, object] = {}
    for key in params:
        if key == "SIZE":
            fields["size"] = _parse_size(_need(params, key))
        elif key == "BODY":
            fields["body"] = _parse_body(_need(params, key))
        elif key == "SMTPUTF8" and smtputf8_enabled:
            # RFC 6531 §3.4: SMTPUTF8 takes no value.
            if params[key] is not None:
                raise _bad(key)
            fields["smtputf8"] = True
        elif key == "RET":
            fields["ret"] = _parse_ret(_need(params, key))
        elif key == "ENVID":
            fields["envid"] = _parse_envid(_need(params, key))
        elif key == "AUTH":
            fields["auth"] = xtext_decode(_need(params, key))
        else:
            raise ParamError(C555_UNKNOWN_PARAM.with_text(f"Unknown MAIL parameter {key}"))
    return MailParams(**fields)  # type: ignore[arg-type]


def _parse_notify(value: str) -> tuple[NotifyValue, ...]:
    items = tuple(v.upper() for v in value.split(","))
    if not items or any(v not in _NOTIFY_VALUES for v in items) or len(set(items)) != len(items):
        raise _bad("NOTIFY")
    # RFC 3461 §4.1: NEVER must appear alone.
    if "NEVER" in items and len(items) > 1:
        raise _bad("NOTIFY")
    return items  # type: ignore[return-value]


def _parse_orcpt(value: str) -> str:
    # RFC 3461 §4.2: ORCPT=addr-type ";" xtext
    addr_type, semi, xtext = value.partition(";")
    if not semi or not _KEYWORD.fullmatch(addr_type) or not xtext:
        raise _bad("ORCPT")
    return f"{addr_type};{xtext_decode(xtext)}"


def parse_rcpt_params(params: Mapping[str, str | None]) -> RcptParams:
    """Typed RCPT TO parameters; ParamError(555) for an unknown one, (501) for a bad value."""
    notify: tuple[NotifyValue, ...] | None = None
    orcpt: str | None = None
    for key in params:
        if key == "NOTIFY":
            notify = _parse_notify(_need(params, key))
        elif key == "ORCPT":
            orcpt = _parse_orcpt(_need(params, key))
        else:
            raise ParamError(C555_UNKNOWN_PARAM.with_text(f"Unknown RCPT parameter {key}"))
    return RcptParams(notify=notify, orcpt=orcpt)
