"""Plumbing every listener shares (SMTP, POP3, IMAP): connection caps, idle timers,
and an orderly shutdown. Protocol adapters (smtp/, pop3/, imap/aio.py) build on these."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Protocol


class ConnectionLimiter:
    """Caps connections in total and per client IP (a cheap guard against floods)."""

    def __init__(self, total: int, per_ip: int) -> None:
        self._total = total
        self._per_ip = per_ip
        self._by_ip: Counter[str] = Counter()
        self.active = 0

    def acquire(self, ip: str) -> bool:
        if self.active >= self._total or self._by_ip[ip] >= self._per_ip:
            return False
        self.active += 1
        self._by_ip[ip] += 1
        return True

    def release(self, ip: str) -> None:
        self.active -= 1
        self._by_ip[ip] -= 1
        if self._by_ip[ip] <= 0:
            del self._by_ip[ip]


class IdleTimer:
    """One timer per connection, re-armed lazily when it fires, rather than one per read.

    A timer per read showed up in the accept-path profile (bench/README.md). `timeout` is asked
    each time, so a protocol can use a different limit per state (SMTP's DATA vs commands).
    """

    def __init__(self, timeout: Callable[[], float], on_expire: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._on_expire = on_expire
        self._last = self._loop.time()
        self._handle = self._loop.call_at(self._last + timeout(), self._check)

    def touch(self) -> None:
        self._last = self._loop.time()

    def rearm(self) -> None:
        """Start counting from the last activity again (after a long answer was written)."""
        self._handle.cancel()
        self._handle = self._loop.call_at(self._last + self._timeout(), self._check)

    def _check(self) -> None:
        deadline = self._last + self._timeout()
        if self._loop.time() >= deadline:
            self._on_expire()
        else:
            self._handle = self._loop.call_at(deadline, self._check)

    def cancel(self) -> None:
        self._handle.cancel()


class Closable(Protocol):
    done: asyncio.Future[None]

    def shut_down(self) -> None: ...
    def abort(self) -> None: ...


async def shut_down_all(connections: Iterable[Closable], grace: float) -> None:
    """Idle connections end now; busy ones finish their answer first, up to `grace` seconds."""
    current = list(connections)
    for conn in current:
        conn.shut_down()
    pending = [conn.done for conn in current if not conn.done.done()]
    if pending:
        await asyncio.wait(pending, timeout=grace)
    for conn in current:
        conn.abort()


def half_close_ok(transport: asyncio.BaseTransport | None) -> bool:
    """What `eof_received` should return: True keeps a plain socket open so the answer in
    progress can still be written (the adapter closes it afterwards); on TLS asyncio ignores
    True and warns, and closing is right anyway."""
    return transport is None or transport.get_extra_info("sslcontext") is None
