"""Routing (RFC 5321 §5.1, RFC 7505) against the real loopback DNS server."""

from __future__ import annotations

import asyncio
import random

import pytest

from roost.config.model import DeliveryConfig, SmarthostConfig
from roost.delivery.mx import Hop, Route, parse_next_hop, route
from roost.dns import Resolver
from tests import dnsserver
from tests.dnsserver import DnsTestServer

dns_server = dnsserver.dns_server  # the real loopback DNS server fixture


def _route(
    server: DnsTestServer, domain: str, config: DeliveryConfig | None = None, seed: int = 1
) -> Route:
    resolver = Resolver([server.address], timeout=2)
    config = config or DeliveryConfig(mx_port=2525)
    return asyncio.run(route(domain, resolver, config, rng=random.Random(seed)))


def _pairs(r: Route) -> list[tuple[str, str]]:
    return [(h.mx_host, h.ip) for h in r.hops]


def test_mx_preference_order_and_addresses(dns_server: DnsTestServer) -> None:
    dns_server.zones = {
        "example.test": {"MX": [(20, "mx2.example.test"), (10, "mx1.example.test")]},
        "mx1.example.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
        "mx2.example.test": {"A": ["127.0.0.3"]},
    }
    r = _route(dns_server, "Example.TEST.")
    assert r.error is None
    assert r.kind == "mx"
    assert not r.null_mx
    # IPv6 then IPv4 for a host; lower preference first.
    assert r.hops == (
        Hop("mx1.example.test", "::1", 2525, 10),
        Hop("mx1.example.test", "127.0.0.2", 2525, 10),
        Hop("mx2.example.test", "127.0.0.3", 2525, 20),
    )
    assert r.mx_hosts == ("mx1.example.test", "mx2.example.test")


def test_equal_preferences_shuffled_deterministically(dns_server: DnsTestServer) -> None:
    hosts = [f"mx{i}.example.test" for i in range(6)]
    zones: dict[str, dict[str, list[object]]] = {
        "example.test": {"MX": [(10, h) for h in hosts] + [(5, "first.example.test")]},
        "first.example.test": {"A": ["127.0.0.100"]},
    }
    for i, h in enumerate(hosts):
        zones[h] = {"A": [f"127.0.0.{i + 10}"]}
    dns_server.zones = zones
    orders = {tuple(_route(dns_server, "example.test", seed=s).mx_hosts) for s in range(8)}
    assert all(order[0] == "first.example.test" for order in orders)
    assert all(sorted(order[1:]) == hosts for order in orders)
    assert len(orders) > 1  # different seeds, different orders
    again = _route(dns_server, "example.test", seed=3).mx_hosts
    assert again == _route(dns_server, "example.test", seed=3).mx_hosts


def test_no_mx_uses_the_domain_as_implicit_mx(dns_server: DnsTestServer) -> None:
    dns_server.zones = {"example.test": {"A": ["127.0.0.5"]}}
    r = _route(dns_server, "example.test")
    assert r.kind == "implicit"
    assert r.hops == (Hop("example.test", "127.0.0.5", 2525, 0),)


def test_null_mx_bounces_at_once(dns_server: DnsTestServer) -> None:
    dns_server.zones = {"example.test": {"MX": [(0, ".")], "A": ["127.0.0.5"]}}
    r = _route(dns_server, "example.test")
    assert r.null_mx
    assert r.error == "permanent"
    assert not r.hops
    assert r.reply is not None
    assert (r.reply.code, r.reply.enhanced) == (550, "5.1.10")


def test_dot_mixed_with_real_mx_is_ignored(dns_server: DnsTestServer) -> None:
    dns_server.zones = {
        "example.test": {"MX": [(0, "."), (10, "mx.example.test")]},
        "mx.example.test": {"A": ["127.0.0.7"]},
    }
    r = _route(dns_server, "example.test")
    assert not r.null_mx
    assert _pairs(r) == [("mx.example.test", "127.0.0.7")]


def test_nxdomain_is_permanent(dns_server: DnsTestServer) -> None:
    r = _route(dns_server, "nowhere.test")
    assert r.error == "permanent"
    assert r.reply is not None
    assert (r.reply.code, r.reply.enhanced) == (550, "5.1.2")


def test_servfail_is_temporary(dns_server: DnsTestServer) -> None:
    dns_server.zones = {"example.test": {"A": ["127.0.0.5"]}}
    dns_server.servfail("example.test")
    r = _route(dns_server, "example.test")
    assert r.error == "temporary"
    assert r.reply is not None
    assert (r.reply.code, r.reply.enhanced) == (451, "4.4.3")


def test_mx_host_without_address_bounces_but_temp_failure_defers(
    dns_server: DnsTestServer,
) -> None:
    dns_server.zones = {"example.test": {"MX": [(10, "gone.example.test")]}}
    r = _route(dns_server, "example.test")
    assert r.error == "permanent"
    assert r.reply is not None
    assert r.reply.enhanced == "5.4.4"
    dns_server.set("gone.example.test", "A", ["127.0.0.9"])
    dns_server.servfail("gone.example.test")
    r = _route(dns_server, "example.test")
    assert r.error == "temporary"


def test_one_unresolvable_mx_does_not_block_the_others(dns_server: DnsTestServer) -> None:
    dns_server.zones = {
        "example.test": {"MX": [(10, "bad.example.test"), (20, "good.example.test")]},
        "bad.example.test": {"A": ["127.0.0.8"]},
        "good.example.test": {"A": ["127.0.0.9"]},
    }
    dns_server.servfail("bad.example.test")
    assert _pairs(_route(dns_server, "example.test")) == [("good.example.test", "127.0.0.9")]


def test_transport_bracketed_connects_directly(dns_server: DnsTestServer) -> None:
    dns_server.zones = {
        "example.test": {"MX": [(10, "mx.example.test")]},
        "relay.test": {"MX": [(10, "other.test")], "A": ["127.0.0.20"]},
    }
    config = DeliveryConfig(mx_port=2525, transport={"example.test": "[relay.test]:2600"})
    r = _route(dns_server, "example.test", config)
    assert r.kind == "transport"
    assert r.hops == (Hop("relay.test", "127.0.0.20", 2600, 0),)


def test_transport_unbracketed_uses_mx_of_the_host(dns_server: DnsTestServer) -> None:
    dns_server.zones = {
        "relay.test": {"MX": [(10, "mx.relay.test")]},
        "mx.relay.test": {"A": ["127.0.0.21"]},
    }
    config = DeliveryConfig(mx_port=2525, transport={".example.test": "relay.test:2601"})
    r = _route(dns_server, "sub.example.test", config)
    assert r.kind == "transport"
    assert r.hops == (Hop("mx.relay.test", "127.0.0.21", 2601, 10),)


def test_transport_beats_smarthost_which_beats_mx(dns_server: DnsTestServer) -> None:
    dns_server.zones = {
        "smart.test": {"MX": [(10, "ignored.test")], "A": ["127.0.0.30"]},
        "direct.test": {"A": ["127.0.0.31"]},
        "example.test": {"MX": [(10, "mx.example.test")]},
    }
    config = DeliveryConfig(
        mx_port=2525,
        smarthost=SmarthostConfig(address="smart.test:587"),
        transport={"special.test": "[direct.test]:25"},
    )
    r = _route(dns_server, "example.test", config)
    assert r.kind == "smarthost"
    assert r.hops == (Hop("smart.test", "127.0.0.30", 587, 0),)  # no MX lookup for a relay
    assert _route(dns_server, "special.test", config).hops == (
        Hop("direct.test", "127.0.0.31", 25, 0),
    )


def test_smarthost_ip_literal_and_address_literal_domain(dns_server: DnsTestServer) -> None:
    config = DeliveryConfig(smarthost=SmarthostConfig(address="[::1]:2525"))
    assert _route(dns_server, "example.test", config).hops == (Hop("::1", "::1", 2525, 0),)
    literal = _route(dns_server, "[IPv6:::1]")
    assert literal.kind == "literal"
    assert literal.hops == (Hop("::1", "::1", 2525, 0),)
    assert _route(dns_server, "[127.0.0.1]").hops[0].ip == "127.0.0.1"
    assert _route(dns_server, "[nonsense]").error == "permanent"


def test_bad_next_hop_defers(dns_server: DnsTestServer) -> None:
    config = DeliveryConfig(transport={"example.test": "relay.test:notaport"})
    r = _route(dns_server, "example.test", config)
    assert r.error == "temporary"


@pytest.mark.parametrize(
    ("text", "host", "port", "mx"),
    [
        ("relay.test:26", "relay.test", 26, True),
        ("[relay.test]:26", "relay.test", 26, False),
        ("relay.test", "relay.test", 25, True),
        ("[relay.test]", "relay.test", 25, False),
        ("[::1]:2525", "::1", 2525, False),
    ],
)
def test_parse_next_hop(text: str, host: str, port: int, mx: bool) -> None:
    hop = parse_next_hop(text, 25)
    assert (hop.host, hop.port, hop.mx_lookup) == (host, port, mx)
