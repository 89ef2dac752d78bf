"""Greylisting (RFC 6647): defer the first message of an unknown (client, sender, recipient)
triplet; real MTAs retry, most spam engines do not.

Triplets live in the database (schema 6), so every node sharing it agrees on who has waited.
The client is taken as its /24 (IPv4) or /64 (IPv6): large senders retry from another address
of the same pool. Senders are normalised so per-message tokens (VERP counters, BATV tags) do not
make every message a new triplet. Authenticated users and allow-listed networks and domains
skip the check entirely.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from roost.obs.log import log_event
from roost.policy.lists import AddressSet, DomainSet
from roost.smtp.reply import Reply
from roost.store.aio import AsyncStore
from roost.store.common import utc_now
from roost.store.interface import GreylistOutcome, GreylistTimes

log = logging.getLogger("roost.policy.greylist")

# RFC 3463 §3.8 X.7.1 "delivery not authorized, message refused", temporarily (4.x.x), so the
# client queues the message and retries: that retry is what greylisting waits for.
GREYLIST_REPLY = Reply(451, "4.7.1", "Greylisted, try again in 300 seconds")


def greylist_reply(retry_after: int) -> Reply:
    """``451 4.7.1 Greylisted, try again in N seconds``."""
    return GREYLIST_REPLY.with_text(f"Greylisted, try again in {max(1, retry_after)} seconds")


@dataclass(frozen=True, slots=True)
class GreylistSettings:
    """postgrey's defaults; `allow_networks` and `allow_domains` (sender domain or verified
    client name; ``.example.com`` for subdomains) are never greylisted."""

    delay_seconds: float = 300.0
    retry_window_seconds: float = 2 * 86400.0
    lifetime_seconds: float = 35 * 86400.0
    allow_networks: Sequence[str] = ()
    allow_domains: Sequence[str] = ()

    @property
    def times(self) -> GreylistTimes:
        return GreylistTimes(
            timedelta(seconds=self.delay_seconds),
            timedelta(seconds=self.retry_window_seconds),
            timedelta(seconds=self.lifetime_seconds),
        )


@dataclass(frozen=True, slots=True)
class GreylistResult:
    """`passed`, or retry in `retry_after` seconds; `why` names the rule for the log."""

    passed: bool
    retry_after: int
    why: str

    @property
    def reply(self) -> Reply | None:
        return None if self.passed else greylist_reply(self.retry_after)


def client_network(ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The client's /24 (IPv4, also for IPv4-mapped IPv6) or /64 (IPv6), as text."""
    address = ipaddress.ip_address(str(ip))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


_BATV = re.compile(r"^prvs=[0-9a-z]+=(.+)$")
_DIGITS = re.compile(r"\d+")


def normalize_sender(sender: str) -> str:
    """Lower case; a BATV ``prvs=TAG=user`` local part becomes ``user``; runs of digits in the
    local part become ``#`` (as postgrey does), so VERP-style senders form one triplet."""
    local, at, domain = sender.strip().lower().rpartition("@")
    if not at:
        return domain  # the null sender "" or something without a domain
    batv = _BATV.match(local)
    if batv:
        local = batv[1]
    return f"{_DIGITS.sub('#', local)}@{domain}"


class Greylister:
    """`await check(...)` at RCPT time; call `purge()` now and then (e.g. hourly)."""

    def __init__(
        self,
        settings: GreylistSettings,
        astore: AsyncStore,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._times = settings.times
        self._astore = astore
        self._clock = clock
        self._networks = AddressSet(settings.allow_networks)
        self._domains = DomainSet(settings.allow_domains)

    def exempt(
        self, client_ip: str, sender: str, *, authenticated: bool, client_names: Sequence[str]
    ) -> str | None:
        """Why this attempt skips greylisting, or None when it does not."""
        if authenticated:
            return "authenticated"
        hit = self._networks.match(client_ip)
        if hit is not None:
            return f"network {hit}"
        domain = sender.rpartition("@")[2] if "@" in sender else ""
        for name in (domain, *client_names):
            hit = self._domains.match(name) if name else None
            if hit is not None:
                return f"domain {hit}"
        return None

    async def check(
        self,
        client_ip: str,
        sender: str,
        recipient: str,
        *,
        authenticated: bool = False,
        client_names: Sequence[str] = (),
    ) -> GreylistResult:
        """Pass, or defer with the seconds left. `client_names`: verified names only."""
        skip = self.exempt(
            client_ip, sender, authenticated=authenticated, client_names=client_names
        )
        if skip is not None:
            return GreylistResult(True, 0, skip)
        net = client_network(client_ip)
        outcome: GreylistOutcome = await self._astore.run(
            self._astore.store.greylist_check,
            net,
            normalize_sender(sender),
            recipient.strip().lower(),
            self._clock(),
            self._times,
        )
        if not outcome.passed:
            log_event(log, "greylisted", client=net, sender=sender, rcpt=recipient,
                      state=outcome.state, retry_after=outcome.retry_after)  # fmt: skip
        return GreylistResult(outcome.passed, outcome.retry_after, outcome.state)

    async def purge(self) -> int:
        """Delete triplets that can no longer pass; returns how many."""
        return await self._astore.run(self._astore.store.greylist_purge, self._clock(), self._times)
