"""Where mail for a domain goes: the ordered list of (host, address, port) to try.

RFC 5321 §5.1: MX records, lowest preference first, equal preferences in random order, and the
domain's own address records as an implicit MX when it has no MX at all. RFC 7505: a single
"0 ." MX means the domain accepts no mail, so bounce at once instead of retrying for days.
Before DNS come the operator's overrides, in Postfix's order: the transport map, then the
smarthost. DNS trouble never raises here; it comes back as a temporary `Route.error`, because
the queue manager's only question is "try these hops, defer, or bounce".
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Literal

from roost.config.model import DeliveryConfig
from roost.dns import AddressResult, DnsError, DnsTempError, MxRecord, Resolver
from roost.smtp.reply import Reply

RouteKind = Literal["mx", "implicit", "transport", "smarthost", "literal"]
RouteError = Literal["temporary", "permanent"]

# RFC 3463 codes for routing failures found before any connection.
C550_NO_DOMAIN = Reply(550, "5.1.2", "Bad destination domain: it does not exist")  # X.1.2
C550_NULL_MX = Reply(550, "5.1.10", "Recipient domain accepts no mail (null MX)")  # RFC 7505 §4.1
C550_NO_ADDRESS = Reply(550, "5.4.4", "Unable to route: mail host has no address")  # X.4.4
C451_DNS = Reply(451, "4.4.3", "DNS lookup failed, will retry")  # X.4.3: directory server failure
C550_BAD_NEXT_HOP = Reply(550, "5.4.4", "Unable to route: bad next hop in configuration")


@dataclass(frozen=True, slots=True)
class Hop:
    """One address to try; `mx_host` is the name for SNI, certificate checks and MTA-STS."""

    mx_host: str
    ip: str
    port: int
    preference: int


@dataclass(frozen=True, slots=True)
class Route:
    """The hops in the order to try them, or why there are none.

    `error` is None when `hops` is usable; "permanent" means bounce now (NXDOMAIN, null MX),
    "temporary" means defer (DNS trouble). `reply` explains either in SMTP terms.
    """

    domain: str
    kind: RouteKind
    hops: tuple[Hop, ...] = ()
    null_mx: bool = False
    error: RouteError | None = None
    reply: Reply | None = None

    @property
    def mx_hosts(self) -> tuple[str, ...]:
        """The distinct host names of the hops, in order (for MTA-STS and logs)."""
        return tuple(dict.fromkeys(h.mx_host for h in self.hops))


@dataclass(frozen=True, slots=True)
class NextHop:
    """An operator override parsed from "host:port" or "[host]:port" (Postfix notation)."""

    host: str
    port: int
    mx_lookup: bool  # "host" without brackets: look up its MX, like Postfix


def _failed(domain: str, kind: RouteKind, error: RouteError, reply: Reply) -> Route:
    return Route(domain, kind, error=error, reply=reply)


def normalise_domain(domain: str) -> str:
    """Lower case without the root dot: the form used for map lookups and DNS."""
    return domain.strip().rstrip(".").lower()


def parse_next_hop(value: str, default_port: int, *, mx_lookup: bool = True) -> NextHop:
    """ "[host]:port" connects to host's addresses; "host:port" (if `mx_lookup`) uses its MX.

    The port is optional. A bracketed IPv6 literal ("[::1]:25") is an address, never an MX.
    """
    text = value.strip()
    bracketed = text.startswith("[")
    if bracketed:
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, ""
    if not host or (port_text and not port_text.isdigit()):
        raise ValueError(f"next hop {value!r} is not host:port or [host]:port")
    port = int(port_text) if port_text else default_port
    return NextHop(normalise_domain(host), port, mx_lookup and not bracketed)


def next_hop_kind(domain: str, config: DeliveryConfig) -> RouteKind:
    """Which rule routes `domain`; TLS policy uses it too (MTA-STS applies only to real MX)."""
    if domain.startswith("["):
        return "literal"
    if _transport_entry(normalise_domain(domain), config) is not None:
        return "transport"
    if config.smarthost.address:
        return "smarthost"
    return "mx"


def _transport_entry(domain: str, config: DeliveryConfig) -> str | None:
    """Exact domain first, then ".parent" entries for subdomains (Postfix's dot notation)."""
    if domain in config.transport:
        return config.transport[domain]
    labels = domain.split(".")
    for i in range(1, len(labels)):
        entry = config.transport.get("." + ".".join(labels[i:]))
        if entry is not None:
            return entry
    return None


async def route(
    domain: str, resolver: Resolver, config: DeliveryConfig, *, rng: random.Random
) -> Route:
    """The route for mail to `domain`: transport map, smarthost, address literal, or MX."""
    name = normalise_domain(domain)
    kind = next_hop_kind(name, config)
    try:
        if kind == "literal":
            return _literal_route(name, config.mx_port)
        if kind == "transport":
            entry = _transport_entry(name, config)
            assert entry is not None
            return await _override_route(name, "transport", entry, resolver, config, rng)
        if kind == "smarthost":
            hop = config.smarthost.address
            return await _override_route(name, "smarthost", hop, resolver, config, rng, mx=False)
        return await _mx_route(name, name, config.mx_port, resolver, rng, "mx")
    except DnsTempError as exc:
        return _failed(name, kind, "temporary", C451_DNS.with_text(f"{C451_DNS.text}: {exc}"))
    except DnsError as exc:  # DnsNameError: the name cannot even be asked about
        return _failed(name, kind, "permanent", C550_NO_DOMAIN.with_text(f"{exc}"))


def _literal_route(domain: str, port: int) -> Route:
    """RFC 5321 §4.1.3 address literal: "[192.0.2.1]" or "[IPv6:2001:db8::1]", no DNS."""
    text = domain[1:-1] if domain.endswith("]") else domain[1:]
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return _failed(domain, "literal", "permanent", C550_NO_DOMAIN)
    return Route(domain, "literal", (Hop(str(ip), str(ip), port, 0),))


async def _override_route(
    domain: str,
    kind: RouteKind,
    entry: str,
    resolver: Resolver,
    config: DeliveryConfig,
    rng: random.Random,
    *,
    mx: bool = True,
) -> Route:
    """A transport-map or smarthost next hop; a configuration error defers, never bounces."""
    try:
        hop = parse_next_hop(entry, config.mx_port, mx_lookup=mx)
    except ValueError as exc:
        return _failed(domain, kind, "temporary", C550_BAD_NEXT_HOP.with_text(str(exc)))
    if hop.mx_lookup:
        return await _mx_route(domain, hop.host, hop.port, resolver, rng, kind)
    hops, temp = await _host_hops([MxRecord(0, hop.host)], hop.port, resolver)
    return _from_hops(domain, kind, hops, temp)


async def _mx_route(
    domain: str, target: str, port: int, resolver: Resolver, rng: random.Random, kind: RouteKind
) -> Route:
    """RFC 5321 §5.1 for `target`'s MX records (target is `domain` unless a transport says)."""
    result = await resolver.mx(target)
    if result.nxdomain:
        return _failed(domain, kind, "permanent", C550_NO_DOMAIN)
    if result.is_null_mx:
        return Route(domain, kind, null_mx=True, error="permanent", reply=C550_NULL_MX)
    # RFC 7505 §3: "." mixed with real MX hosts is a misconfiguration; skip only the ".".
    records = [r for r in result.records if r.host != "."]
    if not records:
        # §5.1: no MX at all: the domain itself is the implicit MX, with preference 0.
        kind = "implicit" if kind == "mx" else kind
        records = [MxRecord(0, target)]
    hops, temp = await _host_hops(shuffle_equal(records, rng), port, resolver)
    return _from_hops(domain, kind, hops, temp)


def _from_hops(domain: str, kind: RouteKind, hops: list[Hop], temp: bool) -> Route:
    """Hops, or a deferral if some host could not be resolved for now, else a bounce."""
    if hops:
        return Route(domain, kind, tuple(hops))
    if temp:
        return _failed(domain, kind, "temporary", C451_DNS)
    return _failed(domain, kind, "permanent", C550_NO_ADDRESS)


def shuffle_equal(records: Sequence[MxRecord], rng: random.Random) -> list[MxRecord]:
    """Lowest preference first; hosts of equal preference in random order (§5.1 load sharing)."""
    out: list[MxRecord] = []
    for _, group in groupby(sorted(records), key=lambda r: r.preference):
        members = list(group)
        rng.shuffle(members)
        out.extend(members)
    return out


async def _host_hops(
    records: Sequence[MxRecord], port: int, resolver: Resolver
) -> tuple[list[Hop], bool]:
    """Every host's addresses (AAAA then A) in record order, an address only once.

    Returns the hops and whether any lookup failed temporarily (the caller defers rather
    than bounces when nothing resolved and some host might resolve later).
    """
    lookups = await asyncio.gather(*(_addresses(r.host, resolver) for r in records))
    hops: list[Hop] = []
    seen: set[str] = set()
    temp = False
    for record, (addresses, failed) in zip(records, lookups, strict=True):
        temp = temp or failed
        for ip in addresses:
            if ip not in seen:
                seen.add(ip)
                hops.append(Hop(record.host, ip, port, record.preference))
    return hops, temp


async def _addresses(host: str, resolver: Resolver) -> tuple[list[str], bool]:
    """A host's IPv6 then IPv4 addresses; an IP-literal host is its own address."""
    try:
        return [str(ipaddress.ip_address(host))], False
    except ValueError:
        pass
    results = await asyncio.gather(resolver.aaaa(host), resolver.a(host), return_exceptions=True)
    addresses: list[str] = []
    failed = False
    for result in results:
        if isinstance(result, AddressResult):
            addresses.extend(str(ip) for ip in result.addresses)
        elif isinstance(result, DnsError):
            failed = failed or isinstance(result, DnsTempError)
        else:
            raise result
    return addresses, failed
