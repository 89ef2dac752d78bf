"""check_host() and its MAIL FROM / HELO wrappers over the loopback DNS server.

The RFC 7208 suite (test_spf_suite.py) covers the results; these tests cover what it does not:
the SpfResult fields (mechanism, lookups, problem), the wrappers, settings passed as arguments,
DNS failures, the resolver cache, and that random records never make check_host() raise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from dnslib import QTYPE, DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roost.auth.spf import SpfResult, check_helo, check_host, check_mail_from, valid_domain
from roost.dns import Resolver
from tests.dnsserver import DnsTestServer

RESULTS = {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"}

ZONES: dict[str, dict[str, list[Any]]] = {
    "example.test": {
        "TXT": ["v=spf1 ip4:192.0.2.0/24 a:mail.example.test -all exp=why.example.test"],
    },
    "why.example.test": {"TXT": ["%{c} may not send for %{d} (seen by %{r})"]},
    "mail.example.test": {"A": ["198.51.100.7"], "TXT": ["v=spf1 a ~all"]},
    "many.example.test": {
        "TXT": ["v=spf1 " + " ".join(["a"] * 11) + " -all"],
        "A": ["192.0.2.100"],
    },
    "voids.example.test": {"TXT": ["v=spf1 a:n1.example.test a:n2.example.test ?all"]},
    "broken.example.test": {"TXT": ["v=spf1 ip4:192.0.2.1 bogus -all"]},
    "servfail.example.test": {"TXT": ["v=spf1 include:dead.example.test -all"]},
    "dead.example.test": {},
    "inc.example.test": {"TXT": ["v=spf1 include:example.test ~all"]},
}


@pytest.fixture(scope="module")
def server() -> Iterator[DnsTestServer]:
    with DnsTestServer() as started:
        yield started


@pytest.fixture
def dns(server: DnsTestServer) -> DnsTestServer:
    server.reset()
    server.zones = ZONES
    return server


def _run(coro: Any) -> SpfResult:
    result: SpfResult = asyncio.run(coro)
    return result


def _resolver(server: DnsTestServer, timeout: float = 2.0) -> Resolver:
    return Resolver([server.address], timeout=timeout)


def test_pass_names_the_mechanism_and_counts_lookups(dns: DnsTestServer) -> None:
    r = _resolver(dns)
    got = _run(check_host(r, "192.0.2.9", "example.test", "a@example.test"))
    assert got == SpfResult("pass", "example.test", mechanism="ip4:192.0.2.0/24", lookups=0)
    got = _run(check_host(r, "198.51.100.7", "Example.Test", "a@example.test"))
    assert (got.result, got.mechanism, got.lookups) == ("pass", "a:mail.example.test", 1)
    got = _run(check_host(r, "::ffff:198.51.100.7", "example.test", "a@example.test"))
    assert got.result == "pass"  # IPv4-mapped IPv6 is IPv4 (§5)


def test_fail_carries_the_expanded_explanation(dns: DnsTestServer) -> None:
    got = _run(
        check_host(
            _resolver(dns), "2001:db8::1", "example.test", "a@example.test", receiver="mx.test"
        )
    )
    assert (got.result, got.mechanism) == ("fail", "-all")
    assert got.explanation == "2001:db8::1 may not send for example.test (seen by mx.test)"


def test_include_uses_the_included_records_but_not_their_explanation(dns: DnsTestServer) -> None:
    r = _resolver(dns)
    got = _run(check_host(r, "192.0.2.1", "inc.example.test", "x@inc.example.test"))
    assert (got.result, got.mechanism, got.lookups) == ("pass", "include:example.test", 1)
    got = _run(check_host(r, "203.0.113.1", "inc.example.test", "x@inc.example.test"))
    assert (got.result, got.explanation, got.lookups) == ("softfail", "", 2)


def test_mail_from_and_helo_identities(dns: DnsTestServer) -> None:
    r = _resolver(dns)
    got = _run(check_mail_from(r, "192.0.2.1", "user@example.test", "mail.example.test", "mx"))
    assert (got.result, got.domain) == ("pass", "example.test")
    # §2.4: the null reverse-path is checked as postmaster@HELO
    got = _run(check_mail_from(r, "198.51.100.7", "", "mail.example.test", "mx"))
    assert (got.result, got.domain) == ("pass", "mail.example.test")
    got = _run(check_helo(r, "203.0.113.5", "mail.example.test", "mx"))
    assert (got.result, got.mechanism) == ("softfail", "~all")
    for helo in ("[192.0.2.1]", "localhost", "", "a..example.test"):
        assert _run(check_helo(r, "192.0.2.1", helo, "mx")).result == "none"  # §4.3


def test_no_record_is_none(dns: DnsTestServer) -> None:
    r = _resolver(dns)
    assert _run(check_host(r, "192.0.2.1", "nowhere.test", "a@nowhere.test")).result == "none"
    assert _run(check_host(r, "192.0.2.1", "dead.example.test", "a@x.test")).result == "none"


def test_permerrors_say_what_went_wrong(dns: DnsTestServer) -> None:
    r = _resolver(dns)
    got = _run(check_host(r, "192.0.2.200", "many.example.test", "a@many.example.test"))
    assert (got.result, got.lookups) == ("permerror", 11)
    assert "more than 10 DNS-querying terms" in got.problem
    got = _run(check_host(r, "192.0.2.1", "broken.example.test", "a@broken.example.test"))
    assert got.result == "permerror"
    assert "bogus" in got.problem


def test_void_lookup_limit_is_an_argument(dns: DnsTestServer) -> None:
    r = _resolver(dns)
    got = _run(check_host(r, "192.0.2.1", "voids.example.test", "a@voids.example.test"))
    assert got.result == "neutral"  # two void lookups are allowed by default
    got = _run(
        check_host(r, "192.0.2.1", "voids.example.test", "a@voids.example.test", max_void_lookups=1)
    )
    assert got.result == "permerror"
    assert "void lookups" in got.problem


def test_servfail_and_timeouts_are_temperror(dns: DnsTestServer) -> None:
    dns.servfail("dead.example.test")
    got = _run(check_host(_resolver(dns), "192.0.2.1", "servfail.example.test", "a@x.test"))
    assert got.result == "temperror"
    assert "dead.example.test" in got.problem
    dns.drop("example.test")
    got = _run(check_host(_resolver(dns, 0.5), "192.0.2.1", "example.test", "a@x.test"))
    assert got.result == "temperror"
    assert "timed out" in got.problem


def test_overall_time_limit_is_temperror(dns: DnsTestServer) -> None:
    dns.drop("example.test")
    got = _run(
        check_host(_resolver(dns, 30), "192.0.2.1", "example.test", "a@x.test", time_limit=0.3)
    )
    assert got.result == "temperror"
    assert "longer than" in got.problem


def test_a_txt_record_with_no_strings_is_temperror_not_a_crash(dns: DnsTestServer) -> None:
    """Zero character-strings is malformed (RFC 1035 §3.3.14); dnspython rejects the answer."""
    dns.set("null.example.test", "TXT", [[]])
    got = _run(check_host(_resolver(dns), "192.0.2.1", "null.example.test", "a@x.test"))
    assert got.result == "temperror"


def test_lookups_go_through_the_resolver_cache(dns: DnsTestServer) -> None:
    r = _resolver(dns)
    for _ in range(3):
        got = _run(check_host(r, "198.51.100.7", "example.test", "a@example.test"))
        assert got.result == "pass"
    assert dns.queries("example.test", "TXT") == 1
    assert dns.queries("mail.example.test", "A") == 1
    assert dns.queries(rtype="SPF") == 0  # §14.1


def test_valid_domain() -> None:
    assert valid_domain("example.com")
    assert valid_domain("example.com.")
    assert valid_domain("_spf.example.com")
    assert valid_domain("foo:bar/baz.example.com")
    assert not valid_domain("com")
    assert valid_domain("com", multi_label=False)
    assert not valid_domain("a" * 64 + ".example.com")
    assert valid_domain("a" * 63 + ".example.com")
    assert not valid_domain("[192.0.2.1]")
    assert not valid_domain("a b.example.com")
    assert not valid_domain(".".join(["abcdefghi"] * 26))  # 259 octets


def test_bad_ip_is_a_caller_error(dns: DnsTestServer) -> None:
    with pytest.raises(ValueError):
        _run(check_host(_resolver(dns), "not-an-ip", "example.test", "a@example.test"))


# -- the test server's SPF-related extensions --------------------------------------------------


def _ask(server: DnsTestServer, name: str, rtype: str, timeout: float = 2) -> DNSRecord:
    query = DNSRecord.question(name, rtype)
    return DNSRecord.parse(query.send("127.0.0.1", server.port, tcp=False, timeout=timeout))


def test_server_serves_type_99_drops_queries_and_resets(server: DnsTestServer) -> None:
    server.reset()
    server.zones = {"a.test": {"SPF": ["v=spf1 -all"], "TXT": [["v=spf1 ", "-all"]]}}
    spf = _ask(server, "a.test", "SPF")
    assert spf.rr[0].rtype == QTYPE.SPF
    assert bytes(spf.rr[0].rdata.data) == b"\x0bv=spf1 -all"  # TXT wire form; dnslib keeps it raw
    assert _ask(server, "a.test", "TXT").rr[0].rdata.data == [b"v=spf1 ", b"-all"]
    server.drop("a.test", keep=["TXT"])
    assert _ask(server, "a.test", "TXT").rr
    with pytest.raises(OSError):
        _ask(server, "a.test", "A", timeout=0.3)  # no answer: the client times out
    server.set("odd name.test", "A", ["192.0.2.1"])
    assert str(_ask(server, "odd name.test", "A").rr[0].rdata) == "192.0.2.1"
    server.reset()
    assert server.zones == {}
    assert server.queries() == 0
    assert _ask(server, "a.test", "A").header.rcode == 3  # NXDOMAIN again, not dropped


# -- random records end to end -----------------------------------------------------------------

_TERMS = st.sampled_from(
    [
        "a",
        "a/24",
        "a//64",
        "mx",
        "mx:r.test",
        "ptr",
        "ptr:r.test",
        "include:r.test",
        "include:%{d}",
        "exists:%{i}.r.test",
        "exists:%{p}.r.test",
        "ip4:192.0.2.0/24",
        "ip6:2001:db8::/32",
        "-all",
        "~all",
        "?all",
        "redirect=r.test",
        "redirect=%{o}",
        "exp=e.test",
        "x=%{c}",
        "bogus",
        "%{",
        "a:%{l1r-}.r.test",
    ]
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(_TERMS, max_size=6),
    st.lists(_TERMS, max_size=6),
    st.sampled_from(["192.0.2.7", "2001:db8::7", "::ffff:192.0.2.7", "203.0.113.1"]),
)
def test_random_records_always_give_an_spf_result(
    server: DnsTestServer, outer: list[str], inner: list[str], ip: str
) -> None:
    server.reset()
    server.zones = {
        "s.test": {"TXT": ["v=spf1 " + " ".join(outer)], "MX": [(1, "r.test")]},
        "r.test": {"TXT": ["v=spf1 " + " ".join(inner)], "A": ["192.0.2.7"], "AAAA": ["::1"]},
        "e.test": {"TXT": ["%{i} %{c} %{r} %{t} %{p}"]},
        "7.2.0.192.in-addr.arpa": {"PTR": ["r.test"]},
    }
    got = _run(check_host(_resolver(server), ip, "s.test", "a-b@s.test", helo="h.test"))
    assert got.result in RESULTS
    assert (got.problem != "") == (got.result in ("permerror", "temperror"))
    assert got.explanation == "" or got.result == "fail"
