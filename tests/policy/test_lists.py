"""Local allow/block lists: entry forms, allow winning, and matching checked against ipaddress."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost.policy.lists import AddressSet, DomainSet, ListDecision, LocalLists, PolicyList


def test_addresses_and_networks_of_both_families() -> None:
    s = AddressSet(["192.0.2.7", "198.51.100.0/24", "2001:db8::/32", "2001:db8:1::1"])
    assert s.match("192.0.2.7") == "192.0.2.7/32"
    assert s.match("192.0.2.8") is None
    assert s.match("198.51.100.200") == "198.51.100.0/24"
    assert s.match("2001:db8:1::1") == "2001:db8:1::1/128"  # most specific entry first
    assert s.match("2001:db8:ffff::9") == "2001:db8::/32"
    assert s.match("2001:db9::1") is None
    assert s.match("::ffff:198.51.100.1") == "198.51.100.0/24"  # IPv4-mapped
    assert s.match(ipaddress.ip_address("198.51.100.1")) == "198.51.100.0/24"


def test_host_bits_in_a_network_entry_are_ignored() -> None:
    assert AddressSet(["192.0.2.77/24"]).match("192.0.2.1") == "192.0.2.0/24"


def test_domains_exact_and_suffix() -> None:
    d = DomainSet(["Example.COM", ".partner.test"])
    assert d.match("example.com.") == "example.com"
    assert d.match("mail.example.com") is None  # exact only
    assert d.match("mx.partner.test") == ".partner.test"
    assert d.match("a.b.partner.test") == ".partner.test"
    assert d.match("partner.test") is None  # suffix form: subdomains only
    assert d.match("notpartner.test") is None
    assert d.match("") is None


def test_parse_recognises_each_form() -> None:
    p = PolicyList.parse(["10.0.0.0/8", "::1", "bad.test", ".worse.test", "Spammer@Example.org"])
    assert p.addresses.match("10.9.9.9") == "10.0.0.0/8"
    assert p.domains.match("x.worse.test") == ".worse.test"
    assert p.senders == {"spammer@example.org"}


@pytest.mark.parametrize("bad", ["10.0.0.300", "1.2.3.4/40", "@", "user@", "two words", "..."])
def test_parse_names_a_bad_entry(bad: str) -> None:
    with pytest.raises(ValueError, match="list entry"):
        PolicyList.parse([bad])


def test_allow_wins_over_block() -> None:
    lists = LocalLists.parse(
        allow=["192.0.2.5", "good@spam.test"], block=["192.0.2.0/24", "spam.test"]
    )
    assert lists.decide("192.0.2.5") == ListDecision("allow", "192.0.2.5/32", "192.0.2.5")
    assert lists.decide("192.0.2.6") == ListDecision("block", "192.0.2.0/24", "192.0.2.6")
    assert lists.decide("203.0.113.1", sender="Good@Spam.test").action == "allow"
    assert lists.decide("203.0.113.1", sender="bad@spam.test") == ListDecision(
        "block", "spam.test", "spam.test"
    )
    assert lists.decide("203.0.113.1", sender="x@fine.test").action == "none"


def test_client_names_match_domains() -> None:
    lists = LocalLists.parse(allow=[".trusted.test"], block=["evil.test"])
    assert lists.decide("203.0.113.1", client_names=["mx1.trusted.test"]).allowed
    assert lists.decide("203.0.113.1", client_names=["EVIL.test."]).blocked
    assert lists.decide(None, sender=None, client_names=[]).action == "none"


def test_empty_lists_decide_nothing() -> None:
    assert LocalLists().decide("192.0.2.1", "a@b.test", ["c.test"]).action == "none"


# --- matching agrees with the ipaddress module -------------------------------------------------

v4_nets = st.builds(
    lambda addr, plen: ipaddress.ip_network(f"{ipaddress.IPv4Address(addr)}/{plen}", strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
v6_nets = st.builds(
    lambda addr, plen: ipaddress.ip_network(f"{ipaddress.IPv6Address(addr)}/{plen}", strict=False),
    st.integers(0, 2**128 - 1),
    st.integers(0, 128),
)
v4_ips = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
v6_ips = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)


@given(st.lists(v4_nets | v6_nets, max_size=12), st.lists(v4_ips | v6_ips, max_size=12))
def test_address_set_agrees_with_ipaddress(nets: list, ips: list) -> None:  # type: ignore[type-arg]
    s = AddressSet(nets)
    for ip in ips:
        containing = [n for n in nets if n.version == ip.version and ip in n]
        hit = s.match(ip)
        if not containing:
            assert hit is None
        else:
            assert hit is not None
            assert ip in ipaddress.ip_network(hit)
            assert ipaddress.ip_network(hit).prefixlen == max(n.prefixlen for n in containing)


labels = st.text("abcxyz0-", min_size=1, max_size=5).filter(lambda s: not s.startswith("-"))
domains = st.lists(labels, min_size=1, max_size=4).map(".".join)


@given(st.lists(domains, max_size=6), st.lists(domains, max_size=6), domains)
def test_domain_set_agrees_with_a_naive_matcher(exact: list, suffix: list, name: str) -> None:  # type: ignore[type-arg]
    d = DomainSet([*exact, *("." + s for s in suffix)])
    expected = name in exact or any(name.endswith("." + s) for s in suffix)
    assert (d.match(name) is not None) == expected
