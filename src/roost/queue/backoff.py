"""Retry timing (pure functions): exponential backoff with jitter, queue lifetime, delay warnings.

RFC 5321 §4.5.4.1: retry at least 30 minutes apart is the suggestion for a busy MTA; Roost starts
lower (5 minutes, configurable) and doubles up to a cap, like Postfix's minimal/maximal backoff.
Jitter spreads retries so a destination that was down is not hit by the whole queue at once.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from roost.config.model import RetryConfig


def retry_delay(attempts: int, retry: RetryConfig, rng: random.Random) -> timedelta:
    """Delay before the next try after `attempts` failed tries (1 = after the first failure)."""
    base = retry.first * (2 ** max(0, attempts - 1))
    capped = min(base, retry.max_interval)
    spread = capped * retry.jitter
    return timedelta(seconds=max(1.0, capped + rng.uniform(-spread, spread)))


def expired(received_at: datetime, now: datetime, retry: RetryConfig) -> bool:
    """Past the maximal queue lifetime: the message bounces (RFC 5321 §4.5.4.1: give up)."""
    return now - received_at >= timedelta(seconds=retry.max_lifetime)


def give_up_at(received_at: datetime, retry: RetryConfig) -> datetime:
    return received_at + timedelta(seconds=retry.max_lifetime)


def should_warn(received_at: datetime, now: datetime, retry: RetryConfig, warned: bool) -> bool:
    """A delay DSN once, after delay_warning seconds in the queue (0 disables it)."""
    if warned or retry.delay_warning <= 0:
        return False
    return now - received_at >= timedelta(seconds=retry.delay_warning)


def next_attempt(
    now: datetime, received_at: datetime, attempts: int, retry: RetryConfig, rng: random.Random
) -> datetime:
    """The next try, never later than the moment the message would expire (so it bounces then)."""
    return min(now + retry_delay(attempts, retry, rng), give_up_at(received_at, retry))
