"""One password check for every protocol (SMTP AUTH, POP3, IMAP), with brute-force protection.

`AuthService.verify()` is the only place a login password is checked. It

- normalises the user name (trimmed, lower case) and looks it up in the directory snapshot;
- runs argon2 in a worker thread, against a dummy hash when the user does not exist, so a
  failed login costs the same work (and time) whether the account exists or not;
- counts failures in sliding windows per client address and per account. Past
  `auth.max_failures_per_ip` (or `auth.max_failures_per_account`) failures within
  `auth.window_seconds`, that address (or account) is blocked for `auth.block_seconds`: attempts
  are then refused *without* checking the password, so a blocked guesser learns nothing and costs
  no CPU. The block is logged once, when it starts;
- resets the address's and the account's counters after a successful login.

IPv6 clients are counted per /64 (one host usually has a whole /64 to choose addresses from);
IPv4-mapped IPv6 addresses count as their IPv4 address. Clients in `auth.exempt_networks` are
neither counted nor blocked (e.g. a webmail front end that rate-limits on its own). Memory is
bounded: at most `auth.max_tracked` addresses and as many accounts are remembered, the least
recently touched forgotten first, and each keeps at most its threshold's number of timestamps.

Accounts being blockable is a trade-off: anyone can lock an account for `block_seconds` by
guessing wrong often enough. It stops distributed guessing against one account, which the
per-address limit alone does not.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import ipaddress
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from roost.accounts.passwords import hash_password, verify_password
from roost.config.model import AuthConfig
from roost.obs.log import log_event
from roost.store.types import Directory

log = logging.getLogger("roost.auth")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AuthStatus(enum.Enum):
    OK = "ok"
    FAILED = "failed"  # wrong user, password or authorization identity
    BLOCKED = "blocked"  # too many failures: refused without looking at the password


@dataclass(frozen=True, slots=True)
class AuthResult:
    status: AuthStatus
    user: str  # the normalised user name (also on failure, for logs)
    retry_after: float = 0.0  # seconds until the block ends (BLOCKED only)

    @property
    def ok(self) -> bool:
        return self.status is AuthStatus.OK

    @property
    def blocked(self) -> bool:
        return self.status is AuthStatus.BLOCKED


@functools.cache
def dummy_hash() -> str:
    """Checked when the user does not exist, so a failed login costs the same time either way.

    Made once, on first use (hashing costs ~20 ms and 19 MiB; no need to pay it at import).
    """
    return hash_password(secrets.token_urlsafe(16))


class _Counter:
    """Failure times of one key (bounded by the threshold) and the end of its block, if any."""

    __slots__ = ("blocked_until", "failures")

    def __init__(self, threshold: int) -> None:
        self.failures: deque[float] = deque(maxlen=threshold)
        self.blocked_until = 0.0


class _Table:
    """Counters per key, at most `cap` of them; the least recently touched is evicted first."""

    def __init__(self, kind: str, threshold: int, cap: int) -> None:
        self.kind = kind
        self.threshold = threshold
        self.cap = cap
        self._counters: OrderedDict[str, _Counter] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counters)

    def __contains__(self, key: str) -> bool:
        return key in self._counters

    def blocked_for(self, key: str, now: float) -> float:
        """Seconds left of `key`'s block; 0 when not blocked (an expired block is forgotten)."""
        counter = self._counters.get(key)
        if counter is None or not counter.blocked_until:
            return 0.0
        if now < counter.blocked_until:
            return counter.blocked_until - now
        del self._counters[key]  # block over: start from a clean slate
        return 0.0

    def fail(self, key: str, now: float, window: float, block: float) -> bool:
        """Record a failure; True when it starts a block."""
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter(self.threshold)
            while len(self._counters) > self.cap:
                self._counters.popitem(last=False)
        else:
            self._counters.move_to_end(key)
            if now < counter.blocked_until:  # an attempt that was in flight when the block began
                return False
        failures = counter.failures
        failures.append(now)
        while failures and failures[0] <= now - window:
            failures.popleft()
        if len(failures) >= self.threshold:
            failures.clear()
            counter.blocked_until = now + block
            return True
        return False

    def reset(self, key: str) -> None:
        self._counters.pop(key, None)


def client_key(client_ip: str) -> str:
    """What failures are counted against: the address, or its /64 for IPv6."""
    try:
        addr = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class AuthService:
    """Checks passwords for all listeners of one server and remembers who keeps failing."""

    def __init__(
        self,
        directory: Callable[[], Directory],
        config: AuthConfig,
        clock: Callable[[], float] = time.monotonic,
        *,
        verify: Callable[[str, str], bool] = verify_password,
    ) -> None:
        self._directory = directory
        self._config = config
        self._clock = clock
        self._verify = verify
        self._exempt: list[Network] = [
            ipaddress.ip_network(n, strict=False) for n in config.exempt_networks
        ]
        self._ips = _Table("ip", config.max_failures_per_ip, config.max_tracked)
        self._accounts = _Table("account", config.max_failures_per_account, config.max_tracked)

    @property
    def tracked(self) -> tuple[int, int]:
        """(addresses, accounts) currently remembered."""
        return len(self._ips), len(self._accounts)

    def is_exempt(self, client_ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self._exempt)

    async def verify(
        self,
        username: str,
        password: str,
        *,
        client_ip: str,
        protocol: str,
        authzid: str = "",
        session: str = "",
    ) -> AuthResult:
        """Check `username`/`password` from `client_ip` over `protocol` ("smtp", "pop3", ...).

        `authzid` is the SASL authorization identity: only empty or the user's own is granted
        (RFC 4616 §2); anything else fails like a wrong password. `session` goes into the logs.
        """
        user = username.strip().lower()
        fields = {"session": session} if session else {}
        exempt = self.is_exempt(client_ip)
        ip_key = client_key(client_ip)
        if not exempt:
            now = self._clock()
            wait = max(self._ips.blocked_for(ip_key, now), self._accounts.blocked_for(user, now))
            if wait > 0:
                return AuthResult(AuthStatus.BLOCKED, user, retry_after=wait)
        record = self._directory().users.get(user)
        stored = record.password_hash if record else dummy_hash()
        good = await asyncio.to_thread(self._verify, stored, password)
        authz_ok = authzid in ("", user, username)
        if good and record is not None and authz_ok:
            self._ips.reset(ip_key)
            self._accounts.reset(user)
            log_event(
                log, "auth ok", logging.INFO, **fields, user=user, ip=client_ip, protocol=protocol
            )
            return AuthResult(AuthStatus.OK, user)
        log_event(log, "auth failed", logging.WARNING, **fields, user=user, ip=client_ip,
                  protocol=protocol)  # fmt: skip
        if not exempt:
            now = self._clock()
            cfg = self._config
            for table, key in ((self._ips, ip_key), (self._accounts, user)):
                if table.fail(key, now, cfg.window_seconds, cfg.block_seconds):
                    until = datetime.now(UTC) + timedelta(seconds=cfg.block_seconds)
                    log_event(log, "auth blocked", logging.WARNING, **fields,
                              **{table.kind: key}, protocol=protocol,
                              until=until.isoformat(timespec="seconds"))  # fmt: skip
        return AuthResult(AuthStatus.FAILED, user)
