"""Greylisting through AsyncStore on both backends, with an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from roost.config.model import RoostConfig
from roost.policy.greylist import (
    GREYLIST_REPLY,
    Greylister,
    GreylistResult,
    GreylistSettings,
    client_network,
    greylist_reply,
    normalize_sender,
)
from roost.store import open_store
from roost.store.aio import AsyncStore

T = TypeVar("T")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


@pytest.fixture
def astore(roost_config: RoostConfig) -> Iterator[AsyncStore]:
    a = AsyncStore(open_store(roost_config))
    yield a
    a.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def greylister(astore: AsyncStore, clock: Clock, **settings: object) -> Greylister:
    return Greylister(GreylistSettings(**settings), astore, clock=clock)  # type: ignore[arg-type]


def test_defer_then_pass_on_retry(astore: AsyncStore, clock: Clock) -> None:
    g = greylister(astore, clock)
    first = run(g.check("192.0.2.10", "news@sender.test", "bob@example.org"))
    assert first == GreylistResult(False, 300, "new")
    assert first.reply is not None
    assert first.reply.format() == b"451 4.7.1 Greylisted, try again in 300 seconds\r\n"
    clock.advance(120)
    assert run(g.check("192.0.2.10", "news@sender.test", "bob@example.org")).retry_after == 180
    clock.advance(180)
    # The retry comes from another address of the same /24, as big senders' pools do.
    passed = run(g.check("192.0.2.77", "news@sender.test", "bob@example.org"))
    assert passed.passed
    assert passed.reply is None
    clock.advance(86400 * 20)
    assert run(g.check("192.0.2.10", "news@sender.test", "bob@example.org")).why == "whitelisted"


def test_ipv6_triplets_are_per_64(astore: AsyncStore, clock: Clock) -> None:
    g = greylister(astore, clock)
    run(g.check("2001:db8:1:2::1", "a@s.test", "bob@example.org"))
    clock.advance(300)
    assert run(g.check("2001:db8:1:2:ffff::9", "a@s.test", "bob@example.org")).passed
    assert run(g.check("2001:db8:1:3::1", "a@s.test", "bob@example.org")).why == "new"


def test_verp_senders_are_one_triplet(astore: AsyncStore, clock: Clock) -> None:
    g = greylister(astore, clock)
    run(g.check("192.0.2.1", "bounce-1234@lists.test", "bob@example.org"))
    clock.advance(301)
    assert run(g.check("192.0.2.1", "bounce-9876@lists.test", "bob@example.org")).passed


def test_exemptions_skip_the_store(astore: AsyncStore, clock: Clock) -> None:
    g = greylister(
        astore, clock, allow_networks=("198.51.100.0/24", "2001:db8::/32"),
        allow_domains=("friend.test", ".bigmail.test"),
    )  # fmt: skip
    assert run(g.check("203.0.113.1", "a@x.test", "b@example.org", authenticated=True)) == (
        GreylistResult(True, 0, "authenticated")
    )
    assert run(g.check("198.51.100.9", "a@x.test", "b@example.org")).why.startswith("network")
    assert run(g.check("2001:db8::5", "a@x.test", "b@example.org")).passed
    assert run(g.check("203.0.113.1", "a@Friend.test", "b@example.org")).passed
    assert run(g.check("203.0.113.1", "a@x.test", "b@example.org",
                       client_names=["out3.bigmail.test"])).passed  # fmt: skip
    # None of them left a triplet: the first real check is "new".
    assert run(g.check("203.0.113.1", "a@x.test", "b@example.org")).why == "new"


def test_custom_times_and_purge(astore: AsyncStore, clock: Clock) -> None:
    g = greylister(astore, clock, delay_seconds=60, retry_window_seconds=600, lifetime_seconds=3600)
    assert run(g.check("192.0.2.1", "a@s.test", "b@example.org")).retry_after == 60
    clock.advance(700)  # past the window
    assert run(g.check("192.0.2.1", "a@s.test", "b@example.org")).why == "expired"
    clock.advance(700)
    assert run(g.purge()) == 1


def test_two_nodes_share_the_triplets(roost_config: RoostConfig, clock: Clock) -> None:
    """A retry reaching another node (another store connection) passes there."""
    a, b = AsyncStore(open_store(roost_config)), AsyncStore(open_store(roost_config))
    try:
        node_a, node_b = greylister(a, clock), greylister(b, clock)
        assert not run(node_a.check("192.0.2.1", "a@s.test", "b@example.org")).passed
        clock.advance(300)
        assert run(node_b.check("192.0.2.1", "a@s.test", "b@example.org")).passed
    finally:
        a.close()
        b.close()


def test_helpers() -> None:
    assert client_network("192.0.2.200") == "192.0.2.0/24"
    assert client_network("::ffff:192.0.2.200") == "192.0.2.0/24"
    assert client_network("2001:db8:1:2:3::4") == "2001:db8:1:2::/64"
    assert normalize_sender("prvs=1234abcd=User42@Example.ORG") == "user#@example.org"
    assert normalize_sender("") == ""
    assert greylist_reply(0).format() == b"451 4.7.1 Greylisted, try again in 1 seconds\r\n"
    assert (GREYLIST_REPLY.code, GREYLIST_REPLY.enhanced) == (451, "4.7.1")
