"""DNS block lists (RFC 5782): is the client's IP (DNSBL) or a domain (RHSBL) listed?

Every zone is asked at once; a zone that times out or answers SERVFAIL counts as "not listed"
(fail open: a broken list must not stop all mail) and is returned as an error for the log.
Lookups go through Roost's resolver, so answers are cached for their TTL.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from roost.dns.errors import DnsError
from roost.dns.resolver import Resolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# RFC 5782 §2.1: listing answers are A records in 127.0.0.0/8, so they cannot be confused with
# a real address (e.g. a resolver that rewrites NXDOMAIN into an advertising page's address).
_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
# Not an RFC rule: Spamhaus and others answer 127.255.255.x to say "your query was refused"
# (open resolver, over quota). Taken as a listing, it would refuse all mail; it is an error.
_REFUSAL = ipaddress.ip_network("127.255.255.0/24")
# RFC 5782 §5: a list must never contain 127.0.0.1 (its test entry is 127.0.0.2), so that
# answer means a broken list or resolver, not a listing.
_NEVER_LISTED = ipaddress.ip_address("127.0.0.1")


@dataclass(frozen=True, slots=True)
class DnsblZone:
    """One list: `zone` as published (e.g. "zen.spamhaus.org").

    `listed_codes`: the A values that count as listed (e.g. {"127.0.0.2", "127.0.0.4"});
    None means any value in 127.0.0.0/8 except 127.0.0.1 and the refusal codes. `kind`: "ip"
    for a DNSBL queried with the client address, "domain" for an RHSBL queried with a domain.
    """

    zone: str
    listed_codes: frozenset[str] | None = None
    kind: Literal["ip", "domain"] = "ip"


@dataclass(frozen=True, slots=True)
class Listing:
    """A hit: the zone, the A value it answered, and its TXT reason ("" when it has none)."""

    zone: str
    code: str
    text: str


@dataclass(frozen=True, slots=True)
class ZoneError:
    """A zone that could not be asked; the check treated it as "not listed"."""

    zone: str
    error: str


class DnsblResult(NamedTuple):
    """`listings, errors = await check_ip(...)`: hits and the zones that failed."""

    listings: list[Listing]
    errors: list[ZoneError]

    @property
    def listed(self) -> bool:
        return bool(self.listings)


def ip_query_name(ip: str | IPAddress, zone: str) -> str:
    """The name to look up for `ip` in `zone`.

    IPv4 (RFC 5782 §2.1): octets reversed, "192.0.2.99" -> "99.2.0.192.zone". IPv6 (§2.4): all
    32 nibbles of the full address, least significant first. An IPv4-mapped IPv6 address (a
    dual-stack socket's view of an IPv4 client) is looked up as the IPv4 address it carries.
    """
    address = ipaddress.ip_address(str(ip))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        labels = reversed(str(address).split("."))
    else:
        labels = reversed(address.exploded.replace(":", ""))
    return ".".join(labels) + "." + _zone(zone)


def domain_query_name(domain: str, zone: str) -> str:
    """RFC 5782 §3: an RHSBL is queried with the domain name itself prefixed to the zone."""
    return domain.strip().rstrip(".").lower() + "." + _zone(zone)


def _zone(zone: str) -> str:
    return zone.strip().strip(".").lower()


async def check_ip(
    resolver: Resolver, ip: str | IPAddress, zones: Sequence[DnsblZone]
) -> DnsblResult:
    """Look the client IP up in every "ip" zone concurrently (the "domain" ones are skipped)."""
    wanted = [z for z in zones if z.kind == "ip"]
    return await _check(resolver, [(z, ip_query_name(ip, z.zone)) for z in wanted])


async def check_domain(resolver: Resolver, domain: str, zones: Sequence[DnsblZone]) -> DnsblResult:
    """Look a domain (sender domain, HELO, reverse DNS name) up in every "domain" zone."""
    if not domain.strip().rstrip("."):
        return DnsblResult([], [])
    wanted = [z for z in zones if z.kind == "domain"]
    return await _check(resolver, [(z, domain_query_name(domain, z.zone)) for z in wanted])


async def _check(resolver: Resolver, queries: list[tuple[DnsblZone, str]]) -> DnsblResult:
    results = await asyncio.gather(*(_one(resolver, zone, name) for zone, name in queries))
    listings = [hit for hits, _ in results for hit in hits]
    errors = [error for _, error in results if error is not None]
    return DnsblResult(listings, errors)


async def _one(
    resolver: Resolver, zone: DnsblZone, name: str
) -> tuple[list[Listing], ZoneError | None]:
    try:
        answer = await resolver.a(name)
    except DnsError as exc:
        return [], ZoneError(zone.zone, str(exc))
    codes, odd = _listing_codes(zone, [str(a) for a in answer.addresses])
    error = ZoneError(zone.zone, f"{name}: ignored answer {', '.join(odd)}") if odd else None
    if not codes:
        return [], error
    text = await _reason(resolver, name)
    return [Listing(zone.zone, code, text) for code in codes], error


def _listing_codes(zone: DnsblZone, values: list[str]) -> tuple[list[str], list[str]]:
    """(codes that list the client, answers that are not listing codes at all)."""
    codes: list[str] = []
    odd: list[str] = []
    for value in sorted(set(values), key=ipaddress.ip_address):
        address = ipaddress.ip_address(value)
        if address not in _LOOPBACK or (
            zone.listed_codes is None and (address in _REFUSAL or address == _NEVER_LISTED)
        ):
            odd.append(value)
        elif zone.listed_codes is None or value in zone.listed_codes:
            codes.append(value)
    return codes, odd


async def _reason(resolver: Resolver, name: str) -> str:
    """The TXT record at the same name (RFC 5782 §2.1: optional, often a URL to look up)."""
    try:
        txt = await resolver.txt(name)
    except DnsError:
        return ""
    return "; ".join(r.decode("utf-8", "replace") for r in txt.records)
