"""Roost's resolver against a real DNS server on loopback: wire, cache and error mapping."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from roost.config.model import DnsConfig
from roost.dns import DnsNameError, DnsTempError, MxRecord, Resolver
from roost.dns.resolver import MAX_TTL, parse_nameserver
from tests.dnsserver import DnsTestServer, Zones, blackhole_udp

T = TypeVar("T")

ZONES: Zones = {
    "example.test": {
        "MX": [(20, "MX2.Example.Test."), (10, "mx1.example.test")],
        "TXT": ["v=spf1 -all"],
    },
    "mx1.example.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
    "mx2.example.test": {"A": ["127.0.0.3", "127.0.0.4"]},
    "alias.example.test": {"CNAME": ["mx1.example.test"]},
    "nomail.test": {"MX": [(0, ".")]},
    "2.0.0.127.in-addr.arpa": {"PTR": ["mx1.example.test"]},
}


class FakeClock:
    """Monotonic time that only moves when a test says so."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


@pytest.fixture
def server(dns_server: DnsTestServer) -> DnsTestServer:
    dns_server.zones = ZONES
    return dns_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def resolver(server: DnsTestServer, clock: FakeClock) -> Resolver:
    return Resolver.from_config(server.config(timeout=2.0), now=clock)


# -- lookups ----------------------------------------------------------------------------------


def test_mx_sorted_and_normalised(resolver: Resolver) -> None:
    result = run(resolver.mx("example.test"))
    assert result.records == (MxRecord(10, "mx1.example.test"), MxRecord(20, "mx2.example.test"))
    assert not result.nxdomain
    assert not result.is_null_mx
    assert result.ttl == 300


def test_a_and_aaaa(resolver: Resolver) -> None:
    assert run(resolver.a("mx2.example.test")).addresses == (
        ipaddress.ip_address("127.0.0.3"),
        ipaddress.ip_address("127.0.0.4"),
    )
    assert run(resolver.aaaa("mx1.example.test")).addresses == (ipaddress.ip_address("::1"),)


def test_txt(resolver: Resolver) -> None:
    assert run(resolver.txt("example.test")).records == (b"v=spf1 -all",)


def test_txt_character_strings_are_joined(server: DnsTestServer, resolver: Resolver) -> None:
    """RFC 7208 §3.3: the strings of one record concatenate with nothing between them."""
    long = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(40)) + " -all"
    assert len(long) > 255  # the server splits it into several character-strings
    server.set("split.test", "TXT", [("v=spf1 ", "include:a.test", " -all"), long])
    records = run(resolver.txt("split.test")).records
    assert sorted(records) == sorted([b"v=spf1 include:a.test -all", long.encode()])


def test_large_answer_falls_back_to_tcp(server: DnsTestServer, resolver: Resolver) -> None:
    """Over the EDNS size the server truncates; the resolver must retry over TCP."""
    values = [f"record-{i}-" + "x" * 200 for i in range(12)]
    server.set("big.test", "TXT", values)
    records = run(resolver.txt("big.test")).records
    assert sorted(records) == sorted(v.encode() for v in values)
    assert server.queries("big.test", "TXT") == 2  # UDP (truncated), then TCP


def test_ptr(resolver: Resolver) -> None:
    result = run(resolver.ptr("127.0.0.2"))
    assert result.names == ("mx1.example.test",)
    assert run(resolver.ptr(ipaddress.ip_address("127.0.0.9"))).nxdomain


def test_generic_query_follows_cname(resolver: Resolver) -> None:
    answer = run(resolver.query("alias.example.test", "A"))
    assert answer.records == ("127.0.0.2",)
    assert answer.canonical_name == "mx1.example.test"
    assert answer.name == "alias.example.test"
    assert answer.rdtype == "A"
    assert not answer.authentic


def test_authentic_reflects_ad_bit(server: DnsTestServer, resolver: Resolver) -> None:
    server.authentic = True
    assert run(resolver.query("example.test", "MX")).authentic


def test_null_mx(resolver: Resolver) -> None:
    result = run(resolver.mx("nomail.test"))
    assert result.records == (MxRecord(0, "."),)
    assert result.is_null_mx


def test_nxdomain_and_nodata_are_results(resolver: Resolver) -> None:
    missing = run(resolver.mx("nowhere.test"))
    assert missing.nxdomain
    assert missing.records == ()
    empty = run(resolver.query("mx1.example.test", "MX"))
    assert not empty.nxdomain
    assert empty.nodata


def test_invalid_names_are_perm_errors(resolver: Resolver) -> None:
    with pytest.raises(DnsNameError):
        run(resolver.a("bad..name.test"))
    with pytest.raises(DnsNameError):
        run(resolver.a("x" * 64 + ".test"))
    with pytest.raises(DnsNameError):
        run(resolver.ptr("not-an-ip"))


# -- nameserver configuration -----------------------------------------------------------------


def test_nameserver_host_port_is_honoured(server: DnsTestServer) -> None:
    resolver = Resolver.from_config(DnsConfig(nameservers=[server.address], timeout=1))
    assert run(resolver.a("mx1.example.test")).addresses
    assert server.queries("mx1.example.test", "A") == 1


def test_nameserver_parsing() -> None:
    v4 = parse_nameserver("192.0.2.1:5353")
    assert (v4.address, v4.port) == ("192.0.2.1", 5353)
    v6 = parse_nameserver("[2001:db8::1]:53")
    assert (v6.address, v6.port) == ("2001:db8::1", 53)
    with pytest.raises(ValueError, match="IP address"):
        parse_nameserver("dns.example.test:53")


# -- cache ---------------------------------------------------------------------------------------


def test_cache_hit_then_expiry(server: DnsTestServer, resolver: Resolver, clock: FakeClock) -> None:
    first = run(resolver.a("MX1.example.test"))
    clock.t += 100
    server.set("mx1.example.test", "A", ["127.0.0.9"])
    second = run(resolver.a("mx1.example.test."))  # case and root dot do not matter
    assert second.addresses == first.addresses
    assert second.ttl == 200
    assert server.queries("mx1.example.test", "A") == 1
    clock.t += 200
    third = run(resolver.a("mx1.example.test"))
    assert third.addresses == (ipaddress.ip_address("127.0.0.9"),)
    assert server.queries("mx1.example.test", "A") == 2


def test_ttl_is_capped(server: DnsTestServer, clock: FakeClock) -> None:
    server.ttl = 10 * MAX_TTL
    resolver = Resolver.from_config(server.config(), now=clock)
    assert run(resolver.a("mx1.example.test")).ttl == MAX_TTL


def test_zero_ttl_is_not_cached(server: DnsTestServer, resolver: Resolver) -> None:
    server.ttl = 0
    run(resolver.a("mx1.example.test"))
    run(resolver.a("mx1.example.test"))
    assert server.queries("mx1.example.test", "A") == 2


def test_negative_caching_uses_soa_minimum(
    server: DnsTestServer, resolver: Resolver, clock: FakeClock
) -> None:
    """RFC 2308: NXDOMAIN and NODATA are cached for min(SOA TTL, SOA minimum)."""
    assert run(resolver.a("later.test")).nxdomain
    assert run(resolver.query("mx2.example.test", "AAAA")).nodata
    server.set("later.test", "A", ["127.0.0.5"])
    clock.t += 59
    cached = run(resolver.a("later.test"))
    assert cached.nxdomain
    assert cached.ttl == 1
    assert run(resolver.query("mx2.example.test", "AAAA")).nodata
    assert server.queries() == 2
    clock.t += 1
    assert run(resolver.a("later.test")).addresses == (ipaddress.ip_address("127.0.0.5"),)


def test_negative_answer_without_soa_is_not_cached(dns_server: DnsTestServer) -> None:
    dns_server.negative_ttl = None
    resolver = Resolver.from_config(dns_server.config())
    assert run(resolver.a("nowhere.test")).nxdomain
    assert run(resolver.a("nowhere.test")).nxdomain
    assert dns_server.queries() == 2


def test_cache_is_bounded(server: DnsTestServer, clock: FakeClock) -> None:
    resolver = Resolver([server.address], timeout=1, now=clock, cache_size=2)
    for name in ("mx1.example.test", "mx2.example.test", "example.test"):
        run(resolver.a(name))
    run(resolver.a("example.test"))  # newest: still cached
    run(resolver.a("mx1.example.test"))  # oldest: evicted, asked again
    assert server.queries("example.test", "A") == 1
    assert server.queries("mx1.example.test", "A") == 2


# -- failures ------------------------------------------------------------------------------------


def test_servfail_is_temporary_and_not_cached(server: DnsTestServer, resolver: Resolver) -> None:
    server.servfail("example.test")
    with pytest.raises(DnsTempError):
        run(resolver.mx("example.test"))
    server.servfail("example.test", enabled=False)
    assert run(resolver.mx("example.test")).records


def test_timeout_is_temporary() -> None:
    with blackhole_udp() as address:
        resolver = Resolver([address], timeout=0.3)
        started = time.monotonic()
        with pytest.raises(DnsTempError, match="timed out"):
            run(resolver.a("example.test"))
    assert time.monotonic() - started < 2
