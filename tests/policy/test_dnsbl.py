"""DNSBL and RHSBL lookups (RFC 5782) through Roost's resolver against a real loopback server."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from roost.dns import Resolver
from roost.policy.dnsbl import (
    DnsblResult,
    DnsblZone,
    Listing,
    check_domain,
    check_ip,
    domain_query_name,
    ip_query_name,
)
from tests.dnsserver import DnsTestServer, blackhole_udp

T = TypeVar("T")

V6 = "2001:db8:1:2::abcd"
V6_NAME = "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2"


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def resolver(server: DnsTestServer) -> Resolver:
    return Resolver([server.address], timeout=2.0)


# --- query names -------------------------------------------------------------------------


def test_ipv4_query_name_reverses_octets() -> None:
    """RFC 5782 §2.1: 192.0.2.99 is looked up as 99.2.0.192.<zone>."""
    assert ip_query_name("192.0.2.99", "bl.test") == "99.2.0.192.bl.test"
    assert ip_query_name(ipaddress.ip_address("10.1.2.3"), "BL.Test.") == "3.2.1.10.bl.test"


def test_ipv6_query_name_is_reversed_nibbles() -> None:
    """RFC 5782 §2.4: every nibble of the expanded address, least significant first."""
    assert ip_query_name(V6, "bl.test") == f"{V6_NAME}.bl.test"
    assert len(ip_query_name("::1", "z").split(".")) == 33


def test_ipv4_mapped_address_is_queried_as_ipv4() -> None:
    assert ip_query_name("::ffff:192.0.2.99", "bl.test") == "99.2.0.192.bl.test"


def test_domain_query_name() -> None:
    """RFC 5782 §3: the domain itself goes in front of the zone."""
    assert domain_query_name("Spam.Example.", "rhs.test") == "spam.example.rhs.test"


# --- DNSBL ---------------------------------------------------------------------------------


def test_listed_ip_with_txt_reason(dns_server: DnsTestServer) -> None:
    dns_server.zones = {
        "2.0.0.127.bl.test": {
            "A": ["127.0.0.2"],
            "TXT": ["Listed: see https://bl.test/q/127.0.0.2"],
        },
    }
    result = run(check_ip(resolver(dns_server), "127.0.0.2", [DnsblZone("bl.test")]))
    assert result == DnsblResult(
        [Listing("bl.test", "127.0.0.2", "Listed: see https://bl.test/q/127.0.0.2")], []
    )
    assert result.listed


def test_unlisted_ip_is_nxdomain_and_no_error(dns_server: DnsTestServer) -> None:
    listings, errors = run(check_ip(resolver(dns_server), "192.0.2.1", [DnsblZone("bl.test")]))
    assert listings == []
    assert errors == []


def test_listing_without_txt_has_empty_text(dns_server: DnsTestServer) -> None:
    dns_server.zones = {"1.2.0.192.bl.test": {"A": ["127.0.0.4"]}}
    listings, _ = run(check_ip(resolver(dns_server), "192.0.2.1", [DnsblZone("bl.test")]))
    assert listings == [Listing("bl.test", "127.0.0.4", "")]


def test_ipv6_listing_by_nibbles(dns_server: DnsTestServer) -> None:
    dns_server.zones = {f"{V6_NAME}.bl6.test": {"A": ["127.0.0.2"], "TXT": ["v6 spam"]}}
    listings, errors = run(check_ip(resolver(dns_server), V6, [DnsblZone("bl6.test")]))
    assert listings == [Listing("bl6.test", "127.0.0.2", "v6 spam")]
    assert errors == []


def test_several_zones_each_asked_once(dns_server: DnsTestServer) -> None:
    """All zones are queried; each hit is reported with its zone; "domain" zones skipped."""
    dns_server.zones = {
        "1.2.0.192.a.test": {"A": ["127.0.0.2"]},
        "1.2.0.192.c.test": {"A": ["127.0.0.3"], "TXT": ["c says no"]},
    }
    zones = [DnsblZone("a.test"), DnsblZone("b.test"), DnsblZone("c.test"),
             DnsblZone("rhs.test", kind="domain")]  # fmt: skip
    listings, errors = run(check_ip(resolver(dns_server), "192.0.2.1", zones))
    assert listings == [
        Listing("a.test", "127.0.0.2", ""),
        Listing("c.test", "127.0.0.3", "c says no"),
    ]
    assert errors == []
    for zone in ("a.test", "b.test", "c.test"):
        assert dns_server.queries(f"1.2.0.192.{zone}", "A") == 1
    assert dns_server.queries(rtype="A") == 3


def test_listed_codes_filter(dns_server: DnsTestServer) -> None:
    """Only the configured codes list the client; several codes give several listings."""
    dns_server.zones = {
        "1.2.0.192.zen.test": {"A": ["127.0.0.2", "127.0.0.4", "127.0.0.10"]},
        "2.2.0.192.zen.test": {"A": ["127.0.0.10"]},
    }
    zone = DnsblZone("zen.test", listed_codes=frozenset({"127.0.0.2", "127.0.0.4"}))
    r = resolver(dns_server)
    listings, _ = run(check_ip(r, "192.0.2.1", [zone]))
    assert [x.code for x in listings] == ["127.0.0.2", "127.0.0.4"]
    listings, errors = run(check_ip(r, "192.0.2.2", [zone]))
    assert listings == []
    assert errors == []


def test_answers_outside_loopback_are_ignored_and_reported(dns_server: DnsTestServer) -> None:
    """RFC 5782 §2.1: a non-127/8 answer (NXDOMAIN rewritten by a resolver) is no listing."""
    dns_server.zones = {"1.2.0.192.bl.test": {"A": ["198.51.100.7"]}}
    listings, errors = run(check_ip(resolver(dns_server), "192.0.2.1", [DnsblZone("bl.test")]))
    assert listings == []
    assert [e.zone for e in errors] == ["bl.test"]
    assert "198.51.100.7" in errors[0].error


@pytest.mark.parametrize("code", ["127.255.255.254", "127.0.0.1"])
def test_refusal_codes_are_errors_not_listings(dns_server: DnsTestServer, code: str) -> None:
    """127.255.255.x ("query refused") must not block all mail when any code counts, nor may
    127.0.0.1, which RFC 5782 §5 says no list contains."""
    dns_server.zones = {"1.2.0.192.bl.test": {"A": [code]}}
    listings, errors = run(check_ip(resolver(dns_server), "192.0.2.1", [DnsblZone("bl.test")]))
    assert listings == []
    assert len(errors) == 1


def test_servfail_zone_fails_open_and_is_reported(dns_server: DnsTestServer) -> None:
    """A zone that cannot answer is "not listed"; the others still count."""
    dns_server.zones = {"1.2.0.192.good.test": {"A": ["127.0.0.2"]}}
    dns_server.servfail("1.2.0.192.broken.test")
    zones = [DnsblZone("broken.test"), DnsblZone("good.test")]
    listings, errors = run(check_ip(resolver(dns_server), "192.0.2.1", zones))
    assert listings == [Listing("good.test", "127.0.0.2", "")]
    assert [e.zone for e in errors] == ["broken.test"]


def test_timeout_fails_open() -> None:
    with blackhole_udp() as address:
        r = Resolver([address], timeout=0.3)
        listings, errors = run(check_ip(r, "192.0.2.1", [DnsblZone("a.test"), DnsblZone("b.test")]))
    assert listings == []
    assert sorted(e.zone for e in errors) == ["a.test", "b.test"]
    assert all("timed out" in e.error for e in errors)


def test_answers_are_cached_by_the_resolver(dns_server: DnsTestServer) -> None:
    dns_server.zones = {"1.2.0.192.bl.test": {"A": ["127.0.0.2"], "TXT": ["why"]}}
    r = resolver(dns_server)
    zones = [DnsblZone("bl.test")]

    async def twice() -> None:
        await check_ip(r, "192.0.2.1", zones)
        await check_ip(r, "192.0.2.1", zones)
        await check_ip(r, "192.0.2.9", zones)  # NXDOMAIN, cached negatively
        await check_ip(r, "192.0.2.9", zones)

    run(twice())
    assert dns_server.queries("1.2.0.192.bl.test", "A") == 1
    assert dns_server.queries("1.2.0.192.bl.test", "TXT") == 1
    assert dns_server.queries("9.2.0.192.bl.test", "A") == 1


# --- RHSBL ---------------------------------------------------------------------------------


def test_rhsbl_domain_listing(dns_server: DnsTestServer) -> None:
    dns_server.zones = {
        "spammer.example.rhs.test": {"A": ["127.0.0.2"], "TXT": ["domain listed"]},
        "spammer.example.rhs2.test": {"A": ["127.0.0.9"]},
    }
    zones = [DnsblZone("rhs.test", kind="domain"),
             DnsblZone("rhs2.test", frozenset({"127.0.0.2"}), kind="domain"),
             DnsblZone("bl.test")]  # fmt: skip
    r = resolver(dns_server)
    listings, errors = run(check_domain(r, "Spammer.Example", zones))
    assert listings == [Listing("rhs.test", "127.0.0.2", "domain listed")]
    assert errors == []
    assert run(check_domain(r, "clean.example", zones)) == DnsblResult([], [])
    assert dns_server.queries(rtype="A") == 4  # two zones x two domains; bl.test never asked


def test_rhsbl_empty_domain_is_not_looked_up(dns_server: DnsTestServer) -> None:
    """The null sender has no domain: nothing to ask."""
    zones = [DnsblZone("rhs.test", kind="domain")]
    assert run(check_domain(resolver(dns_server), "", zones)) == DnsblResult([], [])
    assert dns_server.queries() == 0


@pytest.mark.parametrize("bad", ["a..b", "x" * 300])
def test_rhsbl_unqueryable_domain_is_an_error(dns_server: DnsTestServer, bad: str) -> None:
    listings, errors = run(
        check_domain(resolver(dns_server), bad, [DnsblZone("rhs.test", kind="domain")])
    )
    assert listings == []
    assert len(errors) == 1
