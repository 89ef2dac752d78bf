"""Retry timing and per-destination throttling, as pure table-driven tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from roost.config.model import RetryConfig
from roost.queue.backoff import expired, next_attempt, retry_delay, should_warn
from roost.queue.throttle import Throttle, is_throttling

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(1, 300), (2, 600), (3, 1200), (4, 2400), (5, 4800), (6, 9600), (7, 14400), (20, 14400)],
)
def test_backoff_doubles_up_to_the_cap(attempts: int, expected: float) -> None:
    """Without jitter the delay is first * 2**(n-1), capped at max_interval."""
    retry = RetryConfig(jitter=0.0)
    assert retry_delay(attempts, retry, random.Random(1)).total_seconds() == expected


def test_jitter_stays_within_its_fraction() -> None:
    """Jitter spreads retries by at most +/- the configured fraction."""
    retry = RetryConfig(jitter=0.2)
    rng = random.Random(7)
    delays = {retry_delay(1, retry, rng).total_seconds() for _ in range(200)}
    assert min(delays) >= 240
    assert max(delays) <= 360
    assert len(delays) > 100


def test_next_attempt_never_after_expiry() -> None:
    """The last retry is scheduled at the moment the message expires, so it bounces on time."""
    retry = RetryConfig(jitter=0.0, max_lifetime=1000)
    assert next_attempt(
        T0 + timedelta(seconds=900), T0, 5, retry, random.Random(1)
    ) == T0 + timedelta(seconds=1000)
    assert expired(T0, T0 + timedelta(seconds=1000), retry)
    assert not expired(T0, T0 + timedelta(seconds=999), retry)


def test_delay_warning_once() -> None:
    """A delay DSN is due after delay_warning seconds, once, and never when disabled."""
    retry = RetryConfig(delay_warning=3600)
    later = T0 + timedelta(hours=2)
    assert should_warn(T0, later, retry, warned=False)
    assert not should_warn(T0, later, retry, warned=True)
    assert not should_warn(T0, T0 + timedelta(minutes=59), retry, warned=False)
    assert not should_warn(T0, later, RetryConfig(delay_warning=0), warned=False)


def test_concurrency_per_domain_and_host() -> None:
    """A destination gets at most its connection budget; other destinations are unaffected."""
    throttle = Throttle(per_domain=2, per_host=1, per_minute=0)
    for _ in range(2):
        assert throttle.may_start("a.example", 0)
        throttle.start("a.example")
    assert not throttle.may_start("a.example", 0)
    assert throttle.may_start("b.example", 0)
    throttle.finish("a.example")
    assert throttle.may_start("a.example", 0)
    throttle.start_host("mx1")
    assert not throttle.host_free("mx1")
    throttle.finish_host("mx1")
    assert throttle.host_free("mx1")


def test_throttling_reply_halves_and_pauses_only_that_domain() -> None:
    """421/4.7.x pauses and halves one destination; successes restore it step by step."""
    throttle = Throttle(per_domain=8, per_host=5, per_minute=0)
    pause = throttle.throttled("slow.example", now=100)
    assert pause == 30
    assert throttle.limit("slow.example") == 4
    assert not throttle.may_start("slow.example", 129)
    assert throttle.may_start("slow.example", 131)
    assert throttle.may_start("fast.example", 100)
    assert throttle.throttled("slow.example", now=200) == 60
    assert throttle.limit("slow.example") == 2
    throttle.succeeded("slow.example")
    assert throttle.limit("slow.example") == 3


def test_rate_limit_sliding_minute() -> None:
    """messages_per_minute caps sends in any 60-second window."""
    throttle = Throttle(per_domain=5, per_host=5, per_minute=3)
    assert throttle.messages_allowed("r.example", 0, 10) == 3
    throttle.sent("r.example", 0, 3)
    assert throttle.messages_allowed("r.example", 30, 10) == 0
    assert not throttle.may_start("r.example", 30)
    assert throttle.messages_allowed("r.example", 60.5, 10) == 3


@pytest.mark.parametrize(
    ("code", "enhanced", "expected"),
    [
        (421, "4.3.2", True),
        (450, "4.7.1", True),
        (451, "4.7.0", True),
        (450, "4.2.1", False),
        (550, "5.7.1", False),
        (452, "4.5.3", False),
    ],
)
def test_is_throttling(code: int, enhanced: str, expected: bool) -> None:
    """Only 421 and 4.7.x temporary replies count as "slow down"."""
    assert is_throttling(code, enhanced) is expected


def test_per_host_rate_limit() -> None:
    """max_messages_per_minute_per_host caps what one MX host gets in any 60 s window."""
    throttle = Throttle(per_domain=5, per_host=5, per_minute=0, per_host_minute=3)
    assert throttle.host_allows("mx1", 0, 3)
    throttle.host_sent("mx1", 0, 3)
    assert not throttle.host_allows("mx1", 30, 1)
    assert throttle.host_allows("mx2", 30, 3)
    assert throttle.host_allows("mx1", 60.5, 3)
