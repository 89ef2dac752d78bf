"""Mail address normalisation (RFC 5321 §4.1.2, RFC 6531): one canonical form for lookups.

The directory (users, aliases, domains) stores addresses in this form, and the SMTP server
normalises RCPT addresses the same way before resolving them, so "User@Example.TEST" and
"user@example.test" reach the same mailbox. Internationalised addresses stay in UTF-8 (NFC,
lower-cased) rather than being converted to A-labels: that is how they arrive under SMTPUTF8.
Quoted local parts are not accepted for local accounts. All functions are pure.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

# RFC 5321 §4.5.3.1.1 / §4.5.3.1.2: size limits in octets.
MAX_LOCAL_OCTETS = 64
MAX_DOMAIN_OCTETS = 255
# RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
MAX_ADDRESS_OCTETS = 254

# RFC 5322 §3.2.3 atext, plus any non-ASCII character (RFC 6531 §3.3 UTF8-non-ascii).
_ATOM = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
# A domain label: letters, digits, hyphens (or UTF-8 for U-labels), no hyphen at either end.
_LDH_END = r"[a-z0-9\u0080-\U0010ffff]"
_LABEL = re.compile(rf"{_LDH_END}(?:[a-z0-9\-\u0080-\U0010ffff]*{_LDH_END})?")


def _canonical(text: str) -> str:
    return unicodedata.normalize("NFC", text.strip()).lower()


def _domain_literal(text: str) -> str:
    """RFC 5321 §4.1.3 address literal: "[192.0.2.1]" or "[ipv6:2001:db8::1]"."""
    inner = text[1:-1]
    value = inner[5:] if inner.startswith("ipv6:") else inner
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid address literal (e.g. '[192.0.2.1]')") from None
    if (ip.version == 6) != inner.startswith("ipv6:"):
        raise ValueError(f"{text!r}: IPv6 literals are written '[IPv6:...]', IPv4 as '[a.b.c.d]'")
    return f"[ipv6:{ip.compressed}]" if ip.version == 6 else f"[{ip.compressed}]"


def normalize_domain(text: str) -> str:
    """Lower-cased, NFC, without a trailing dot; ValueError naming the problem otherwise."""
    domain = _canonical(text).removesuffix(".")
    if not domain:
        raise ValueError("empty domain; expected a name like 'example.com'")
    if domain.startswith("[") and domain.endswith("]"):
        return _domain_literal(domain)
    if len(domain.encode()) > MAX_DOMAIN_OCTETS:
        raise ValueError(f"domain {domain!r} is longer than {MAX_DOMAIN_OCTETS} octets")
    for label in domain.split("."):
        if not _LABEL.fullmatch(label) or len(label.encode()) > 63:
            raise ValueError(
                f"{domain!r} is not a valid domain name (labels of letters, digits and hyphens, "
                "separated by dots, e.g. 'example.com')"
            )
    return domain


def _split(text: str) -> tuple[str, str]:
    local, sep, domain = text.rpartition("@")
    if not sep or not local:
        raise ValueError(
            f"{text!r} is not an address; expected local@domain (e.g. 'user@example.com')"
        )
    return local, domain


def normalize_address(text: str) -> str:
    """ "local@domain" lower-cased (NFC) with a valid domain; ValueError naming the problem."""
    canonical = _canonical(text)
    local, domain = _split(canonical)
    if not _DOT_ATOM.fullmatch(local):
        raise ValueError(
            f"{canonical!r}: the part before '@' may contain letters, digits and "
            "!#$%&'*+-/=?^_`{|}~ with single dots between them"
        )
    if len(local.encode()) > MAX_LOCAL_OCTETS:
        raise ValueError(
            f"{canonical!r}: the part before '@' is longer than {MAX_LOCAL_OCTETS} octets"
        )
    address = f"{local}@{normalize_domain(domain)}"
    if len(address.encode()) > MAX_ADDRESS_OCTETS:
        raise ValueError(f"{canonical!r} is longer than {MAX_ADDRESS_OCTETS} octets")
    return address


def is_catch_all(source: str) -> bool:
    """True for an alias source of the form "@domain" (matches every local part in the domain)."""
    return len(source) > 1 and source.startswith("@") and "@" not in source[1:]


def normalize_alias_source(text: str) -> str:
    """An alias source: a full address, or "@domain" for a catch-all."""
    canonical = _canonical(text)
    if is_catch_all(canonical):
        return "@" + normalize_domain(canonical[1:])
    return normalize_address(canonical)


def domain_of(address: str) -> str:
    """The domain part of a normalised address or catch-all source."""
    return address.rpartition("@")[2]


def base_address(address: str, separator: str = "+") -> str:
    """Strip a "+tag" from the local part: "user+news@d" -> "user@d" (plus-addressing).

    A local part that starts with the separator ("+x@d") has no base and is returned unchanged.
    """
    local, _, domain = address.rpartition("@")
    base, sep, _tag = local.partition(separator)
    if not sep or not base:
        return address
    return f"{base}@{domain}"
