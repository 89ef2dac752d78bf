"""SPF record syntax (RFC 7208 §4.5, §4.6.1, §5, §6, §12 ABNF): text in, :class:`Record` out.

The whole record is parsed before evaluation starts, so a syntax error anywhere is a permerror
even when an earlier mechanism would have matched (§4.6: "check_host() ... MUST detect" them).
Anything wrong raises :class:`SpfSyntaxError`; no other exception leaves :func:`parse_record`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from roost.auth.spf_macro import (
    DOMAIN_LETTERS,
    EXP_LETTERS,
    MacroError,
    MacroString,
    parse_macro_string,
)

VERSION = b"v=spf1"
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}  # §4.6.2
DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})  # §4.6.4: count to 10

_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9\-_.]*)=(.*)", re.DOTALL)  # §4.6.1 name "=" ...
_MECHANISM = re.compile(r"([+\-~?]?)([A-Za-z][A-Za-z0-9]*)(.*)", re.DOTALL)
_DUAL_CIDR = re.compile(r"(?:/([0-9]+))?(?://([0-9]+))?\Z")
_IP4 = re.compile(r":([0-9.]+)(?:/([0-9]+))?", re.DOTALL)
_IP6 = re.compile(r":([0-9A-Fa-f:.]+)(?:/([0-9]+))?", re.DOTALL)
_QNUM = re.compile(r"25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9]")  # §5.6 ip4-network
# §7.1 toplabel: ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
_TOPLABEL = re.compile(
    r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9]", re.ASCII
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SpfSyntaxError(ValueError):
    """The record breaks the grammar: check_host() returns permerror (§4.6)."""


@dataclass(frozen=True, slots=True)
class Mechanism:
    """One directive: qualifier, mechanism name and its arguments."""

    qualifier: str  # "+", "-", "~" or "?" (an omitted qualifier is "+")
    kind: str  # all include a mx ptr ip4 ip6 exists
    text: str  # the term as written, for SpfResult.mechanism
    domain: MacroString | None = None  # include a mx ptr exists: ":" domain-spec
    network: Network | None = None  # ip4 ip6
    cidr4: int = 32  # a mx: dual-cidr-length
    cidr6: int = 128

    @property
    def result(self) -> str:
        return QUALIFIERS[self.qualifier]


@dataclass(frozen=True, slots=True)
class Record:
    """A parsed SPF record: mechanisms in order plus the two modifiers that mean something."""

    mechanisms: tuple[Mechanism, ...]
    redirect: MacroString | None = None
    explanation: MacroString | None = None

    @property
    def has_all(self) -> bool:
        return any(m.kind == "all" for m in self.mechanisms)


def is_spf_record(raw: bytes) -> bool:
    """§4.5: "v=spf1" (case-insensitively) followed by a space or the end of the record."""
    return raw[:6].lower() == VERSION and (len(raw) == 6 or raw[6:7] == b" ")


def parse_record(raw: bytes | str) -> Record:
    """Parse one selected record (version included); raise :class:`SpfSyntaxError`."""
    try:
        text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        text.encode("ascii")
    except UnicodeError:
        raise SpfSyntaxError("record contains non-ASCII characters (§3.1, §4.5)") from None
    if not is_spf_record(text.encode("ascii")):
        raise SpfSyntaxError("record does not start with v=spf1")
    mechanisms: list[Mechanism] = []
    redirect: MacroString | None = None
    explanation: MacroString | None = None
    for term in text[6:].split(" "):  # §4.6.1: terms are separated by 1*SP, nothing else
        if not term:
            continue
        modifier = _MODIFIER.fullmatch(term)
        if modifier is None:
            mechanisms.append(_mechanism(term))
            continue
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp"):
            # §6: each at most once; their value is a domain-spec, never empty.
            if (redirect if name == "redirect" else explanation) is not None:
                raise SpfSyntaxError(f"{name}= appears more than once (§6)")
            spec = _domain_spec(value, term)
            if name == "redirect":
                redirect = spec
            else:
                explanation = spec
        else:
            # §6.3 unknown modifiers are ignored, but must still be valid macro-strings.
            try:
                parse_macro_string(value, letters=EXP_LETTERS)
            except MacroError as exc:
                raise SpfSyntaxError(f"bad modifier {term!r}: {exc}") from None
    return Record(tuple(mechanisms), redirect, explanation)


def _mechanism(term: str) -> Mechanism:
    match = _MECHANISM.fullmatch(term)
    if match is None:
        raise SpfSyntaxError(f"unknown term {term!r}")
    qualifier, kind, rest = match.group(1) or "+", match.group(2).lower(), match.group(3)
    if kind == "all":
        if rest:
            raise SpfSyntaxError(f"'all' takes no arguments: {term!r} (§5.1)")
        return Mechanism(qualifier, kind, term)
    if kind in ("include", "exists"):
        if not rest.startswith(":"):
            raise SpfSyntaxError(f"{kind} needs ':' and a domain: {term!r} (§5.2, §5.7)")
        return Mechanism(qualifier, kind, term, domain=_domain_spec(rest[1:], term))
    if kind == "ptr":
        domain = _domain_spec(rest[1:], term) if rest.startswith(":") else None
        if rest and domain is None:
            raise SpfSyntaxError(f"bad ptr mechanism {term!r} (§5.5)")
        return Mechanism(qualifier, kind, term, domain=domain)
    if kind in ("a", "mx"):
        return _a_or_mx(qualifier, kind, term, rest)
    if kind == "ip4":
        return _ip4(qualifier, term, rest)
    if kind == "ip6":
        return _ip6(qualifier, term, rest)
    raise SpfSyntaxError(f"unknown mechanism {term!r} (§4.6.1)")


def _a_or_mx(qualifier: str, kind: str, term: str, rest: str) -> Mechanism:
    """``a`` / ``mx`` [":" domain-spec] [dual-cidr-length] (§5.3, §5.4, §5.6)."""
    cidr = _DUAL_CIDR.search(rest)
    assert cidr is not None  # every part optional and anchored at the end: always matches
    spec = rest[: cidr.start()]
    cidr4 = _cidr(cidr.group(1), 32, term)
    cidr6 = _cidr(cidr.group(2), 128, term)
    domain = None
    if spec:
        if not spec.startswith(":"):
            raise SpfSyntaxError(f"bad {kind} mechanism {term!r}")
        domain = _domain_spec(spec[1:], term)
    return Mechanism(qualifier, kind, term, domain=domain, cidr4=cidr4, cidr6=cidr6)


def _ip4(qualifier: str, term: str, rest: str) -> Mechanism:
    match = _IP4.fullmatch(rest)
    parts = match.group(1).split(".") if match else []
    if match is None or len(parts) != 4 or not all(_QNUM.fullmatch(p) for p in parts):
        raise SpfSyntaxError(f"bad ip4 network in {term!r} (§5.6)")
    length = _cidr(match.group(2), 32, term)
    network = ipaddress.IPv4Network(f"{match.group(1)}/{length}", strict=False)
    return Mechanism(qualifier, "ip4", term, network=network)


def _ip6(qualifier: str, term: str, rest: str) -> Mechanism:
    match = _IP6.fullmatch(rest)
    if match is None:
        raise SpfSyntaxError(f"bad ip6 network in {term!r} (§5.6)")
    try:
        address = ipaddress.IPv6Address(match.group(1))
    except ValueError:
        raise SpfSyntaxError(f"bad ip6 address in {term!r} (§5.6)") from None
    length = _cidr(match.group(2), 128, term)
    network = ipaddress.IPv6Network(f"{address}/{length}", strict=False)
    return Mechanism(qualifier, "ip6", term, network=network)


def _cidr(digits: str | None, limit: int, term: str) -> int:
    """§5.6 cidr-length: no leading zeros, at most 32 (IPv4) or 128 (IPv6)."""
    if digits is None:
        return limit
    if (len(digits) > 1 and digits[0] == "0") or int(digits) > limit:
        raise SpfSyntaxError(f"bad CIDR length /{digits} in {term!r} (§5.6)")
    return int(digits)


def _domain_spec(text: str, term: str) -> MacroString:
    """§7.1 domain-spec = macro-string domain-end; domain-end = "." toplabel ["."] / macro."""
    if not text:
        raise SpfSyntaxError(f"empty domain in {term!r}")
    try:
        spec = parse_macro_string(text, letters=DOMAIN_LETTERS)
    except MacroError as exc:
        raise SpfSyntaxError(f"bad domain-spec in {term!r}: {exc}") from None
    if spec.ends_with_macro:
        return spec
    tail = spec.literal_tail
    tail = tail[:-1] if tail.endswith(".") else tail
    _, dot, top = tail.rpartition(".")
    if not dot or not _TOPLABEL.fullmatch(top):
        raise SpfSyntaxError(f"domain in {term!r} must end in a valid top label (§7.1)")
    return spec
