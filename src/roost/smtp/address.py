"""SMTP paths and mailboxes (RFC 5321 §4.1.2, internationalised by RFC 6531 §3.3).

`parse_path` turns the text of a MAIL/RCPT path ("<local@domain>") into a normalised address
string; syntax problems raise `AddressError`, and a non-ASCII address where UTF-8 is not allowed
raises `Utf8AddressError` so the caller can answer 553 5.6.7 instead of 501.
"""

from __future__ import annotations

import ipaddress
import re

# RFC 5321 §4.5.3.1.1-3: size limits, in octets.
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255
MAX_PATH = 256

# RFC 5322 §3.2.3 atext, as used by RFC 5321 Atom.
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_DOT_STRING = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
# RFC 6531 §3.3: atext is extended with UTF8-non-ascii.
_DOT_STRING_UTF8 = re.compile(rf"[\u0080-\U0010ffff{_ATEXT}]+(?:\.[\u0080-\U0010ffff{_ATEXT}]+)*")
# RFC 5321 §4.1.2: qtextSMTP = %d32-33 / %d35-91 / %d93-126; quoted-pairSMTP = "\" %d32-126.
_QUOTED = re.compile(r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"')
_QUOTED_UTF8 = re.compile(r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\U0010ffff]|\\[\x20-\x7e])*"')
# sub-domain = Let-dig [Ldh-str]; RFC 6531 allows U-labels, so non-ASCII counts as a letter.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_LABEL_UTF8 = (
    r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\u0080-\U0010ffff-]*[A-Za-z0-9\u0080-\U0010ffff])?"
)
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DOMAIN_UTF8 = re.compile(rf"{_LABEL_UTF8}(?:\.{_LABEL_UTF8})*")
# General-address-literal = Standardized-tag ":" 1*dcontent (RFC 5321 §4.1.3).
_GENERAL_LITERAL = re.compile(r"[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+")
# A-d-l = At-domain *( "," At-domain ), At-domain = "@" Domain (RFC 5321 §4.1.2).
_SOURCE_ROUTE = re.compile(rf"@{_LABEL}(?:\.{_LABEL})*(?:,@{_LABEL}(?:\.{_LABEL})*)*:")


class AddressError(ValueError):
    """The path is not valid RFC 5321 syntax (or exceeds a §4.5.3.1 length limit)."""


class Utf8AddressError(AddressError):
    """The path is non-ASCII but SMTPUTF8 is not in effect (RFC 6531 §3.2)."""


def parse_path(text: str, *, allow_null: bool, allow_postmaster: bool, utf8: bool) -> str:
    """Parse "<...>" and return the address without brackets ("" for the null path <>).

    Source routes are accepted and dropped (RFC 5321 §4.1.1.3, Appendix C); the domain is
    lower-cased because domains compare case-insensitively, the local part is kept verbatim
    (RFC 5321 §2.4: only the destination host may interpret it).
    """
    if len(text.encode("utf-8")) > MAX_PATH:
        raise AddressError("path longer than 256 octets")
    if len(text) < 2 or text[0] != "<" or text[-1] != ">":
        raise AddressError("path must be enclosed in <>")
    inner = text[1:-1]
    if inner == "":
        if allow_null:
            return ""
        raise AddressError("null path not allowed here")
    # RFC 5321 §4.1.1.3: "<Postmaster>" without a domain is a valid RCPT target, any case.
    if allow_postmaster and inner.lower() == "postmaster":
        return "postmaster"
    route = _SOURCE_ROUTE.match(inner)
    if route:
        inner = inner[route.end() :]
    return parse_mailbox(inner, utf8=utf8)


def parse_mailbox(text: str, *, utf8: bool) -> str:
    """Parse Mailbox = Local-part "@" ( Domain / address-literal ); see `parse_path`."""
    if not utf8 and not text.isascii():
        # RFC 6531 §3.2: distinguish "needs SMTPUTF8" from a syntax error; check syntax first.
        parse_mailbox(text, utf8=True)
        raise Utf8AddressError("non-ASCII address without SMTPUTF8")
    at = text.rfind("@")
    if at <= 0:
        raise AddressError("mailbox needs local-part@domain")
    local, domain = text[:at], text[at + 1 :]
    _check_local(local, utf8=utf8)
    return f"{local}@{_check_domain(domain, utf8=utf8)}"


def _check_local(local: str, *, utf8: bool) -> None:
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        raise AddressError("local part longer than 64 octets")
    dot, quoted = (_DOT_STRING_UTF8, _QUOTED_UTF8) if utf8 else (_DOT_STRING, _QUOTED)
    if not (dot.fullmatch(local) or quoted.fullmatch(local)):
        raise AddressError(f"bad local part {local!r}")


def _check_domain(domain: str, *, utf8: bool) -> str:
    if len(domain.encode("utf-8")) > MAX_DOMAIN:
        raise AddressError("domain longer than 255 octets")
    if domain.startswith("[") and domain.endswith("]"):
        return _check_literal(domain[1:-1])
    if not (_DOMAIN_UTF8 if utf8 else _DOMAIN).fullmatch(domain):
        raise AddressError(f"bad domain {domain!r}")
    return domain.lower()


def _check_literal(literal: str) -> str:
    """RFC 5321 §4.1.3 address literals: IPv4, "IPv6:" and the general (tagged) form."""
    try:
        if literal[:5].lower() == "ipv6:":
            return f"[IPv6:{ipaddress.IPv6Address(literal[5:]).compressed}]"
        if literal[:1].isdigit():
            return f"[{ipaddress.IPv4Address(literal)}]"
    except ValueError as exc:
        raise AddressError(f"bad address literal {literal!r}") from exc
    if _GENERAL_LITERAL.fullmatch(literal):
        return f"[{literal}]"
    raise AddressError(f"bad address literal {literal!r}")


def split_path(text: str) -> tuple[str, str]:
    """Split "<path> params" at the closing ">" (skipping quoted strings); ("", text) if none.

    A quoted local part may itself contain ">" (RFC 5321 §4.1.2 qtextSMTP), so a plain find()
    would cut the path short.
    """
    if not text.startswith("<"):
        return "", text
    quoted = escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ">" and not quoted:
            return text[: i + 1], text[i + 1 :]
    return "", text


def split_address(addr: str) -> tuple[str, str]:
    """Split a normalised address into (local part, domain); ("postmaster", "") for postmaster."""
    at = addr.rfind("@")
    if at < 0:
        return addr, ""
    return addr[:at], addr[at + 1 :]
