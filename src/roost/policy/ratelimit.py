"""Token-bucket rate limits per client IP, authenticated user and sender domain.

A bucket holds up to `burst` tokens and refills at `count` tokens per `per_seconds`; each
connection or message takes one. Memory is bounded: buckets live in one LRU map of at most
`max_keys` entries, and a bucket idle long enough to be full again is dropped, since a full
bucket and no bucket behave the same. Evicting a bucket that is not yet full (only when more
than `max_keys` clients are active at once) forgets its debt: the limiter then errs towards
accepting mail rather than growing without bound.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from roost.smtp.reply import Reply

Clock = Callable[[], float]

# Kinds the SMTP layer uses; any other string works too (a kind without a Rate is unlimited).
CONNECTIONS_PER_IP = "connections_per_ip"
MESSAGES_PER_IP = "messages_per_ip"
MESSAGES_PER_USER = "messages_per_user"
MESSAGES_PER_SENDER_DOMAIN = "messages_per_sender_domain"

# RFC 3463 §3.8: X.7.0 "other or undefined security status" for refusing a connection, X.7.1
# "delivery not authorized" for refusing a message for now. 421 closes the connection
# (RFC 5321 §3.8); 451 defers one message and the client retries later.
CONNECTION_RATE_REPLY = Reply(
    421, "4.7.0", "Too many connections from your address recently; try again later"
)
MESSAGE_RATE_REPLY = Reply(
    451, "4.7.1", "Too many messages from your address, account or domain; try again later"
)


def rate_reply(kind: str, retry_after: float) -> Reply:
    """The reply for a refused take, telling when a retry can succeed (whole seconds)."""
    base = CONNECTION_RATE_REPLY if kind == CONNECTIONS_PER_IP else MESSAGE_RATE_REPLY
    if not math.isfinite(retry_after):
        return base
    return base.with_text(f"{base.text} (in {max(1, math.ceil(retry_after))} seconds)")


@dataclass(frozen=True, slots=True)
class Rate:
    """`count` per `per_seconds` on average, with bursts of up to `burst` (default `count`)."""

    count: float
    per_seconds: float
    burst: float | None = None

    def __post_init__(self) -> None:
        if self.count <= 0 or self.per_seconds <= 0 or (self.burst is not None and self.burst <= 0):
            raise ValueError(f"rate {self.count}/{self.per_seconds}s must be positive")

    @property
    def capacity(self) -> float:
        return self.count if self.burst is None else self.burst

    @property
    def per_second(self) -> float:
        return self.count / self.per_seconds


def per_hour(count: float, burst: float | None = None) -> Rate:
    return Rate(count, 3600.0, burst)


def per_minute(count: float, burst: float | None = None) -> Rate:
    return Rate(count, 60.0, burst)


def ip_key(ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The key a client address counts under: itself for IPv4, its /64 for IPv6 (one host
    usually holds a whole /64, so per-address keys would be trivially evaded)."""
    address = ipaddress.ip_address(str(ip))
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class _Bucket:
    __slots__ = ("rate", "stamp", "tokens")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = rate.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(self.rate.capacity, self.tokens + elapsed * self.rate.per_second)
        self.stamp = now

    def full_at(self) -> float:
        return self.stamp + (self.rate.capacity - self.tokens) / self.rate.per_second


class RateLimiter:
    """`try_take(kind, key)` for every limited event; one instance per process, loop-only."""

    def __init__(
        self, rates: Mapping[str, Rate], *, clock: Clock = time.monotonic, max_keys: int = 100_000
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._rates = dict(rates)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()

    def try_take(self, kind: str, key: str, n: float = 1) -> tuple[bool, float]:
        """(True, 0.0) and `n` tokens taken, or (False, seconds until `n` tokens are there).

        Nothing is taken when refused. An `n` larger than the burst can never be taken:
        (False, inf). A kind without a configured Rate is not limited.
        """
        rate = self._rates.get(kind)
        if rate is None:
            return True, 0.0
        now = self._clock()
        self._expire(now)
        if n > rate.capacity:
            return False, math.inf
        bucket = self._bucket(kind, key, rate, now)
        bucket.refill(now)
        if bucket.tokens >= n:
            bucket.tokens -= n
            return True, 0.0
        return False, (n - bucket.tokens) / rate.per_second

    def _bucket(self, kind: str, key: str, rate: Rate, now: float) -> _Bucket:
        bucket = self._buckets.get((kind, key))
        if bucket is None or bucket.rate != rate:
            bucket = _Bucket(rate, now)
            self._buckets[(kind, key)] = bucket
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end((kind, key))
        return bucket

    def _expire(self, now: float, budget: int = 4) -> None:
        """Drop a few of the least recently used buckets that are full again by now.

        Called on every take, so expiry keeps pace with new keys at a constant cost per call.
        """
        for _ in range(budget):
            if not self._buckets:
                return
            key, bucket = next(iter(self._buckets.items()))
            if bucket.full_at() > now:
                return
            del self._buckets[key]

    def set_rates(self, rates: Mapping[str, Rate]) -> None:
        """New limits (config reload); buckets of a changed rate start afresh."""
        self._rates = dict(rates)

    def __len__(self) -> int:
        return len(self._buckets)
