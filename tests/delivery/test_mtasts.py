"""MTA-STS (RFC 8461): parsing, matching, the HTTPS fetch from a loopback server, and caching."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from roost.config.model import RoostConfig
from roost.delivery.mtasts import (
    FETCH_ERROR,
    MAX_AGE_CAP,
    POLICY_INVALID,
    WEBPKI_INVALID,
    FetchSettings,
    MemoryPolicyCache,
    MtaStsCache,
    PolicyCache,
    PolicyError,
    StorePolicyCache,
    StsLookup,
    mx_matches,
    parse_policy,
    parse_txt_id,
)
from roost.dns import Resolver
from roost.store import open_store
from roost.store.aio import AsyncStore
from tests import dnsserver
from tests.delivery.https_server import POLICY, PolicyServer
from tests.dnsserver import DnsTestServer

dns_server = dnsserver.dns_server  # the real loopback DNS server fixture

T = TypeVar("T")
DOMAIN = "example.test"


# --- parsing -----------------------------------------------------------------------------------


def test_parse_policy_fields_and_lines() -> None:
    policy = parse_policy(POLICY)
    assert policy.mode == "enforce"
    assert policy.mx == ("mx1.example.test", "*.mx.example.test")
    assert policy.max_age == 86400
    assert policy.lines == [
        "version: STSv1",
        "mode: enforce",
        "mx: mx1.example.test",
        "mx: *.mx.example.test",
        "max_age: 86400",
    ]


def test_parse_policy_caps_max_age_and_ignores_unknown_keys() -> None:
    text = "version: STSv1\nmode: testing\nmx: a.test\nmax_age: 9999999999\nfuture: yes\n"
    assert parse_policy(text).max_age == MAX_AGE_CAP


def test_mode_none_needs_no_mx() -> None:
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 60\n").mx == ()


@pytest.mark.parametrize(
    "text",
    [
        "mode: enforce\nmx: a.test\nmax_age: 60\n",  # no version
        "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 60\n",
        "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 60\n",
        "version: STSv1\nmode: enforce\nmax_age: 60\n",  # no mx
        "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",
        "version: STSv1\nmode: enforce\nmx: a.test\n",
    ],
)
def test_invalid_policies(text: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    assert info.value.result_type == POLICY_INVALID


def test_mx_matches_exact_and_one_label_wildcard() -> None:
    policy = parse_policy(POLICY)
    assert mx_matches(policy, "MX1.example.test.")
    assert mx_matches(policy, "a.mx.example.test")
    assert not mx_matches(policy, "a.b.mx.example.test")  # one label only (§4.1)
    assert not mx_matches(policy, "mx.example.test")
    assert not mx_matches(policy, "mx2.example.test")


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([b"v=STSv1; id=20160831085700Z;"], "20160831085700Z"),
        ([b"v=STSv1;id=abc"], "abc"),
        ([b"v=spf1 -all", b"v=STSv1; id=abc"], "abc"),
        ([b"v=STSv1; id=abc", b"v=STSv1; id=def"], None),  # not exactly one
        ([b"v=STSv1; id=bad-id"], None),
        ([b"v=STSv1; id=" + b"a" * 33], None),
        ([b"v=STSv10; id=abc"], None),
        ([], None),
    ],
)
def test_parse_txt_id(records: list[bytes], expected: str | None) -> None:
    assert parse_txt_id(records) == expected


# --- fetching and caching through real servers -------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _zones(server: DnsTestServer, policy_id: str = "id1") -> None:
    server.ttl = 0  # the resolver must see record changes at once
    server.zones = {
        f"_mta-sts.{DOMAIN}": {"TXT": [f"v=STSv1; id={policy_id};"]},
        f"mta-sts.{DOMAIN}": {"A": ["127.0.0.1"]},
    }


def _cache(
    dns: DnsTestServer, https: PolicyServer, store: PolicyCache, clock: Clock, timeout: float = 5
) -> MtaStsCache:
    resolver = Resolver([dns.address], timeout=2)
    settings = FetchSettings(https.client_context(), port=https.port, timeout=timeout)
    return MtaStsCache(store, resolver, settings, now=clock)


def _run(body: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(body())  # type: ignore[arg-type]


def test_fetch_and_cache_until_id_changes(dns_server: DnsTestServer) -> None:
    _zones(dns_server)
    memory, clock = MemoryPolicyCache(), Clock()

    async def body() -> list[StsLookup]:
        async with PolicyServer() as https:
            sts = _cache(dns_server, https, memory, clock)
            first = await sts.lookup(DOMAIN)
            second = await sts.lookup(DOMAIN)  # same id: from the cache
            https.policy = POLICY.replace("enforce", "testing")
            third = await sts.lookup(DOMAIN)  # still the cached one
            dns_server.set(f"_mta-sts.{DOMAIN}", "TXT", ["v=STSv1; id=id2;"])
            fourth = await sts.lookup(DOMAIN)
            assert len(https.requests) == 2
            assert f"Host: mta-sts.{DOMAIN}" in https.requests[0]
            assert https.requests[0].startswith("GET /.well-known/mta-sts.txt HTTP/1.1")
            return [first, second, third, fourth]

    first, second, third, fourth = _run(body)
    assert first.policy is not None
    assert first.policy.mode == "enforce"
    assert not first.from_cache
    assert second.from_cache
    assert third.policy is not None
    assert third.policy.mode == "enforce"
    assert fourth.policy is not None
    assert fourth.policy.mode == "testing"
    assert fourth.policy_id == "id2"
    cached = memory.policies[DOMAIN]
    assert cached.policy_id == "id2"
    assert cached.expires_at - cached.fetched_at == timedelta(seconds=86400)


def test_expired_policy_is_refetched(dns_server: DnsTestServer) -> None:
    _zones(dns_server)
    memory, clock = MemoryPolicyCache(), Clock()

    async def body() -> int:
        async with PolicyServer() as https:
            sts = _cache(dns_server, https, memory, clock)
            await sts.lookup(DOMAIN)
            clock.now += timedelta(seconds=86401)
            again = await sts.lookup(DOMAIN)
            assert not again.from_cache
            return len(https.requests)

    assert _run(body) == 2


def test_failed_fetch_keeps_unexpired_cache_and_reports(dns_server: DnsTestServer) -> None:
    _zones(dns_server)
    memory, clock = MemoryPolicyCache(), Clock()

    async def body() -> tuple[StsLookup, StsLookup]:
        async with PolicyServer() as https:
            sts = _cache(dns_server, https, memory, clock)
            await sts.lookup(DOMAIN)
            dns_server.set(f"_mta-sts.{DOMAIN}", "TXT", ["v=STSv1; id=id2;"])
            https.mode = "404"
            kept = await sts.lookup(DOMAIN)
            clock.now += timedelta(days=2)
            gone = await sts.lookup(DOMAIN)
            return kept, gone

    kept, gone = _run(body)
    assert kept.policy is not None
    assert kept.from_cache
    assert kept.failure == FETCH_ERROR
    assert kept.policy_id == "id1"
    assert gone.policy is None
    assert gone.failure == FETCH_ERROR


def test_txt_removed_keeps_cached_policy(dns_server: DnsTestServer) -> None:
    _zones(dns_server)
    memory, clock = MemoryPolicyCache(), Clock()

    async def body() -> StsLookup:
        async with PolicyServer() as https:
            sts = _cache(dns_server, https, memory, clock)
            await sts.lookup(DOMAIN)
            dns_server.remove(f"_mta-sts.{DOMAIN}")
            return await sts.lookup(DOMAIN)

    kept = _run(body)
    assert kept.policy is not None
    assert kept.from_cache
    assert kept.failure is None


def test_no_txt_record_means_no_policy(dns_server: DnsTestServer) -> None:
    dns_server.zones = {DOMAIN: {"MX": [(10, "mx1.example.test")]}}

    async def body() -> StsLookup:
        async with PolicyServer() as https:
            return await _cache(dns_server, https, MemoryPolicyCache(), Clock()).lookup(DOMAIN)

    lookup = _run(body)
    assert lookup.policy is None
    assert lookup.failure is None


@pytest.mark.parametrize(
    ("mode", "failure"),
    [
        ("404", FETCH_ERROR),
        ("redirect", FETCH_ERROR),  # §3.3: redirects are not followed
        ("oversized", FETCH_ERROR),
        ("wrong-type", POLICY_INVALID),
    ],
)
def test_fetch_failures(dns_server: DnsTestServer, mode: str, failure: str) -> None:
    _zones(dns_server)

    async def body() -> StsLookup:
        async with PolicyServer() as https:
            https.mode = mode
            return await _cache(dns_server, https, MemoryPolicyCache(), Clock()).lookup(DOMAIN)

    lookup = _run(body)
    assert lookup.policy is None
    assert lookup.failure == failure


def test_invalid_policy_body(dns_server: DnsTestServer) -> None:
    _zones(dns_server)

    async def body() -> StsLookup:
        async with PolicyServer(policy="version: STSv1\nmode: enforce\n") as https:
            return await _cache(dns_server, https, MemoryPolicyCache(), Clock()).lookup(DOMAIN)

    assert _run(body).failure == POLICY_INVALID


def test_chunked_response(dns_server: DnsTestServer) -> None:
    _zones(dns_server)

    async def body() -> StsLookup:
        async with PolicyServer() as https:
            https.mode = "chunked"
            return await _cache(dns_server, https, MemoryPolicyCache(), Clock()).lookup(DOMAIN)

    lookup = _run(body)
    assert lookup.policy is not None
    assert lookup.policy.text == POLICY


def test_untrusted_certificate_is_webpki_invalid(dns_server: DnsTestServer) -> None:
    _zones(dns_server)

    async def body() -> StsLookup:
        async with PolicyServer() as https, PolicyServer() as other:
            # trust `other`'s certificate, talk to `https`: verification must fail
            resolver = Resolver([dns_server.address], timeout=2)
            settings = FetchSettings(other.client_context(), port=https.port, timeout=5)
            sts = MtaStsCache(MemoryPolicyCache(), resolver, settings, now=Clock())
            return await sts.lookup(DOMAIN)

    assert _run(body).failure == WEBPKI_INVALID


def test_timeout_is_a_fetch_error(dns_server: DnsTestServer) -> None:
    _zones(dns_server)

    async def body() -> StsLookup:
        async with PolicyServer() as https:
            https.mode = "hang"
            sts = _cache(dns_server, https, MemoryPolicyCache(), Clock(), timeout=0.5)
            return await sts.lookup(DOMAIN)

    assert _run(body).failure == FETCH_ERROR


def test_policy_host_without_address(dns_server: DnsTestServer) -> None:
    dns_server.zones = {f"_mta-sts.{DOMAIN}": {"TXT": ["v=STSv1; id=x;"]}}

    async def body() -> StsLookup:
        async with PolicyServer() as https:
            return await _cache(dns_server, https, MemoryPolicyCache(), Clock()).lookup(DOMAIN)

    assert _run(body).failure == FETCH_ERROR


def test_store_cache_survives_a_new_cache_object(
    dns_server: DnsTestServer, roost_config: RoostConfig, tmp_path: Path
) -> None:
    """The policy lives in the store: a restarted server (new MtaStsCache) does not refetch."""
    _zones(dns_server)
    clock = Clock()
    astore = AsyncStore(open_store(roost_config))

    async def body() -> tuple[StsLookup, int]:
        async with PolicyServer() as https:
            await _cache(dns_server, https, StorePolicyCache(astore), clock).lookup(DOMAIN)
            again = await _cache(dns_server, https, StorePolicyCache(astore), clock).lookup(DOMAIN)
            return again, len(https.requests)

    try:
        again, fetches = _run(body)
    finally:
        astore.close()
    assert fetches == 1
    assert again.from_cache
    assert again.policy is not None
    assert again.policy.mode == "enforce"
