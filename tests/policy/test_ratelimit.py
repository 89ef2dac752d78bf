"""Token buckets: refill, retry_after, bounded memory, expiry, and the reply texts."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost.policy.ratelimit import (
    CONNECTION_RATE_REPLY,
    CONNECTIONS_PER_IP,
    MESSAGE_RATE_REPLY,
    MESSAGES_PER_IP,
    MESSAGES_PER_USER,
    Rate,
    RateLimiter,
    ip_key,
    per_hour,
    per_minute,
    rate_reply,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_burst_then_refusal_with_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter({CONNECTIONS_PER_IP: per_minute(3)}, clock=clock)
    assert [limiter.try_take(CONNECTIONS_PER_IP, "192.0.2.1")[0] for _ in range(3)] == [True] * 3
    ok, retry = limiter.try_take(CONNECTIONS_PER_IP, "192.0.2.1")
    assert not ok
    assert retry == pytest.approx(20.0)  # one token every 20 s
    assert limiter.try_take(CONNECTIONS_PER_IP, "192.0.2.2") == (True, 0.0)  # other key
    clock.t += 20
    assert limiter.try_take(CONNECTIONS_PER_IP, "192.0.2.1") == (True, 0.0)
    assert not limiter.try_take(CONNECTIONS_PER_IP, "192.0.2.1")[0]


def test_kinds_are_separate_and_unconfigured_kinds_unlimited() -> None:
    limiter = RateLimiter({MESSAGES_PER_IP: per_hour(1)}, clock=Clock())
    assert limiter.try_take(MESSAGES_PER_IP, "k")[0]
    assert not limiter.try_take(MESSAGES_PER_IP, "k")[0]
    assert all(limiter.try_take(MESSAGES_PER_USER, "k")[0] for _ in range(100))


def test_take_n_and_more_than_burst() -> None:
    limiter = RateLimiter({MESSAGES_PER_USER: Rate(10, 3600, burst=5)}, clock=Clock())
    assert limiter.try_take(MESSAGES_PER_USER, "alice", 4) == (True, 0.0)
    ok, retry = limiter.try_take(MESSAGES_PER_USER, "alice", 3)
    assert not ok
    assert retry == pytest.approx(2 * 360)  # 2 tokens missing, one per 360 s
    assert limiter.try_take(MESSAGES_PER_USER, "alice", 6) == (False, math.inf)


def test_refill_never_exceeds_burst() -> None:
    clock = Clock()
    limiter = RateLimiter({"k": per_minute(2)}, clock=clock)
    clock.t += 10_000
    assert [limiter.try_take("k", "x")[0] for _ in range(3)] == [True, True, False]


def test_memory_is_bounded_by_max_keys() -> None:
    limiter = RateLimiter({"k": per_hour(5)}, clock=Clock(), max_keys=100)
    for i in range(1000):
        limiter.try_take("k", str(i))
    assert len(limiter) == 100


def test_idle_buckets_expire_once_full_again() -> None:
    clock = Clock()
    limiter = RateLimiter({"k": per_minute(60)}, clock=clock)  # one token a second
    for i in range(50):
        limiter.try_take("k", str(i))
    assert len(limiter) == 50
    clock.t += 2  # every bucket is full again: keeping it changes nothing
    for _ in range(20):
        limiter.try_take("k", "fresh")
    assert len(limiter) == 1


def test_a_bucket_in_debt_is_not_expired() -> None:
    clock = Clock()
    limiter = RateLimiter({"k": per_hour(2)}, clock=clock)
    limiter.try_take("k", "a", 2)
    clock.t += 60
    for i in range(10):
        limiter.try_take("k", f"other{i}")
    assert not limiter.try_take("k", "a")[0]


def test_changed_rate_starts_a_fresh_bucket() -> None:
    limiter = RateLimiter({"k": per_hour(1)}, clock=Clock())
    limiter.try_take("k", "a")
    limiter.set_rates({"k": per_hour(2)})
    assert limiter.try_take("k", "a")[0]


def test_ip_key_groups_ipv6_by_64() -> None:
    assert ip_key("192.0.2.1") == "192.0.2.1"
    assert ip_key("2001:db8:1:2:aaaa::1") == ip_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert ip_key("::ffff:192.0.2.1") == "192.0.2.1"


def test_replies_carry_rfc3463_codes() -> None:
    assert CONNECTION_RATE_REPLY.format().startswith(b"421 4.7.0 Too many connections")
    assert MESSAGE_RATE_REPLY.format().startswith(b"451 4.7.1 Too many messages")
    assert rate_reply(CONNECTIONS_PER_IP, 19.2).format() == (
        b"421 4.7.0 Too many connections from your address recently; try again later"
        b" (in 20 seconds)\r\n"
    )
    assert rate_reply(MESSAGES_PER_IP, math.inf) == MESSAGE_RATE_REPLY


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError):
        Rate(0, 60)
    with pytest.raises(ValueError):
        RateLimiter({}, max_keys=0)


@given(
    count=st.integers(1, 20),
    per=st.floats(1, 3600),
    steps=st.lists(st.tuples(st.floats(0, 600), st.integers(1, 3)), max_size=60),
)
def test_never_more_than_burst_plus_refill(count: int, per: float, steps: list) -> None:  # type: ignore[type-arg]
    """Over any schedule, tokens granted <= burst + rate * elapsed; a refusal's retry_after
    is exactly when the same take succeeds."""
    clock = Clock()
    limiter = RateLimiter({"k": Rate(count, per)}, clock=clock)
    start, granted = clock.t, 0
    for dt, n in steps:
        clock.t += dt
        ok, retry = limiter.try_take("k", "x", n)
        if ok:
            granted += n
        elif math.isfinite(retry):
            assert retry > 0
        assert granted <= count + (clock.t - start) * count / per + 1e-6
    if steps and not ok and math.isfinite(retry):
        clock.t += retry + 1e-6
        assert limiter.try_take("k", "x", n)[0]
