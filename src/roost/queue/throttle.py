"""Per-destination limits: concurrency, message rate, and slowing down when a destination asks.

One slow or throttling provider must never block the rest of the queue: each destination domain
(and each MX host) has its own connection budget; a 421 or a 4.7.x "slow down" reply halves that
destination's concurrency and pauses it with exponential backoff, and successes win the
concurrency back one step at a time (additive increase, multiplicative decrease).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

RATE_WINDOW = 60.0  # seconds: the per-minute message limit is a sliding window
MIN_PAUSE = 30.0
MAX_PAUSE = 1800.0


@dataclass
class _Destination:
    limit: int
    active: int = 0
    paused_until: float = 0.0
    pause: float = 0.0
    sent: deque[float] = field(default_factory=deque)


class Throttle:
    """Decides whether a destination may get another connection now. Clock passed in (seconds)."""

    def __init__(
        self, per_domain: int, per_host: int, per_minute: int, per_host_minute: int = 0
    ) -> None:
        self._per_domain = per_domain
        self._per_host = per_host
        self._per_minute = per_minute
        self._per_host_minute = per_host_minute
        self._domains: dict[str, _Destination] = {}
        self._hosts: dict[str, int] = {}
        self._host_sent: dict[str, deque[float]] = {}

    def _dest(self, domain: str) -> _Destination:
        dest = self._domains.get(domain)
        if dest is None:
            dest = self._domains[domain] = _Destination(limit=self._per_domain)
        return dest

    def may_start(self, domain: str, now: float) -> bool:
        dest = self._dest(domain)
        if now < dest.paused_until or dest.active >= dest.limit:
            return False
        return self._rate_allows(dest, now)

    def _rate_allows(self, dest: _Destination, now: float) -> bool:
        if self._per_minute <= 0:
            return True
        while dest.sent and dest.sent[0] <= now - RATE_WINDOW:
            dest.sent.popleft()
        return len(dest.sent) < self._per_minute

    def messages_allowed(self, domain: str, now: float, wanted: int) -> int:
        """How many of `wanted` messages the rate limit lets through right now."""
        if self._per_minute <= 0:
            return wanted
        dest = self._dest(domain)
        self._rate_allows(dest, now)
        return max(0, min(wanted, self._per_minute - len(dest.sent)))

    def host_free(self, host: str) -> bool:
        return self._hosts.get(host, 0) < self._per_host

    def host_allows(self, host: str, now: float, count: int) -> bool:
        """Whether `count` more messages fit in the MX host's per-minute budget now."""
        if self._per_host_minute <= 0:
            return True
        sent = self._host_sent.setdefault(host, deque())
        while sent and sent[0] <= now - RATE_WINDOW:
            sent.popleft()
        return len(sent) + count <= self._per_host_minute

    def host_sent(self, host: str, now: float, count: int) -> None:
        if self._per_host_minute > 0:
            self._host_sent.setdefault(host, deque()).extend([now] * count)

    def start(self, domain: str) -> None:
        self._dest(domain).active += 1

    def finish(self, domain: str) -> None:
        self._dest(domain).active -= 1

    def start_host(self, host: str) -> None:
        self._hosts[host] = self._hosts.get(host, 0) + 1

    def finish_host(self, host: str) -> None:
        left = self._hosts.get(host, 0) - 1
        if left > 0:
            self._hosts[host] = left
        else:
            self._hosts.pop(host, None)

    def sent(self, domain: str, now: float, count: int) -> None:
        if self._per_minute > 0:
            self._dest(domain).sent.extend([now] * count)

    def throttled(self, domain: str, now: float) -> float:
        """The destination said slow down: halve its concurrency, pause it; returns the pause."""
        dest = self._dest(domain)
        dest.limit = max(1, dest.limit // 2)
        dest.pause = min(MAX_PAUSE, max(MIN_PAUSE, dest.pause * 2))
        dest.paused_until = now + dest.pause
        return dest.pause

    def succeeded(self, domain: str) -> None:
        dest = self._dest(domain)
        dest.pause = 0.0
        dest.limit = min(self._per_domain, dest.limit + 1)

    def paused_until(self, domain: str) -> float:
        return self._dest(domain).paused_until

    def limit(self, domain: str) -> int:
        return self._dest(domain).limit

    def active(self, domain: str) -> int:
        return self._dest(domain).active


def is_throttling(code: int, enhanced: str) -> bool:
    """421 (service not available, RFC 5321 §3.8) or a 4.7.x policy deferral: slow down."""
    return code == 421 or (code // 100 == 4 and enhanced.startswith("4.7."))
