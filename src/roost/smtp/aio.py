"""The asyncio adapter: the only SMTP module that touches sockets, TLS and timeouts.

It moves bytes between the stream and the sans-I/O `ServerConnection`, asks `InboundSession`
what to answer, and writes the replies of a pipelined batch in one write (RFC 2920 §3.1: the
server may buffer replies until the client waits for them, i.e. until we need more input).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from roost.obs.log import log_event
from roost.smtp.events import NEED_DATA, ConnectionClosed
from roost.smtp.inbound import ClientInfo, InboundSession, ListenerPolicy, ServerContext
from roost.smtp.received import TlsInfo
from roost.smtp.reply import (
    C421_TIMEOUT,
    C421_TOO_MANY_CONNECTIONS,
    Reply,
)
from roost.smtp.server import ServerConnection, ServerOptions, State

log = logging.getLogger("roost.smtp")

READ_SIZE = 65536
_DATA_STATES = frozenset({State.DATA, State.BDAT})


@dataclass(frozen=True, slots=True)
class Timeouts:
    command: float
    data: float
    tls_handshake: float = 30.0


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


def tls_info(writer: asyncio.StreamWriter) -> TlsInfo | None:
    obj = writer.get_extra_info("ssl_object")
    if obj is None:
        return None
    cipher = obj.cipher()
    name, bits = (cipher[0], cipher[2]) if cipher else ("unknown", 0)
    return TlsInfo(version=obj.version() or "TLS", cipher=name, bits=bits)


class SmtpHandler:
    """One listener's connection handler (mx, submission or submissions)."""

    def __init__(
        self,
        context: ServerContext,
        policy: ListenerPolicy,
        options: ServerOptions,
        *,
        tls_context: ssl.SSLContext | None,
        limiter: ConnectionLimiter,
        timeouts: Timeouts,
    ) -> None:
        self._context = context
        self._policy = policy
        self._options = options
        self._tls = tls_context
        self._limiter = limiter
        self._timeouts = timeouts
        self.sessions: set[asyncio.Task[None]] = set()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        peer = writer.get_extra_info("peername") or ("?", 0)
        ip, port = str(peer[0]), int(peer[1])
        try:
            if not self._limiter.acquire(ip):
                await _say_and_close(writer, C421_TOO_MANY_CONNECTIONS)
                return
            try:
                await self._serve(reader, writer, ip, port)
            finally:
                self._limiter.release(ip)
        except (ConnectionError, ssl.SSLError, TimeoutError) as exc:
            log_event(log, "connection lost", logging.DEBUG, client=ip, error=repr(exc))
        finally:
            self.sessions.discard(task)
            writer.close()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ip: str, port: int
    ) -> None:
        conn = ServerConnection(self._options)
        client = ClientInfo(ip, port, self._policy, tls=lambda: tls_info(writer))
        session = InboundSession(self._context, client, conn)
        log_event(
            log,
            "connect",
            session=session.session_id,
            client=f"{ip}:{port}",
            listener=self._policy.name,
        )
        try:
            writer.write(session.greeting().format())
            await self._loop(reader, writer, conn, session)
        finally:
            session.close()
            log_event(
                log,
                "disconnect",
                session=session.session_id,
                client=ip,
                messages=session.messages,
                errors=session.errors,
            )

    async def _loop(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn: ServerConnection,
        session: InboundSession,
    ) -> None:
        out = bytearray()
        watchdog = _Watchdog(
            lambda: self._timeouts.data if conn.state in _DATA_STATES else self._timeouts.command,
            lambda: _close_with(writer, C421_TIMEOUT),
        )
        try:
            await self._events(reader, writer, conn, session, out, watchdog)
        finally:
            watchdog.cancel()

    async def _events(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn: ServerConnection,
        session: InboundSession,
        out: bytearray,
        watchdog: _Watchdog,
    ) -> None:
        while not conn.wants_close:
            event = conn.next_event()
            if event is NEED_DATA:
                await _flush(writer, out)
                data = await reader.read(READ_SIZE)
                watchdog.touch()
                conn.receive_data(data)
                continue
            reply = await session.handle(event)  # type: ignore[arg-type]
            if isinstance(event, ConnectionClosed):
                break
            if reply is None:
                continue
            await self._answer(writer, conn, session, out, reply)
        await _flush(writer, out)

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        conn: ServerConnection,
        session: InboundSession,
        out: bytearray,
        reply: Reply,
    ) -> None:
        delay = session.penalty()
        if delay and not reply.is_positive:
            await _flush(writer, out)
            await asyncio.sleep(delay)  # tarpit: an abusive client waits, others don't
        out += conn.send(reply)
        if session.start_tls_requested:
            session.start_tls_requested = False
            await _flush(writer, out)
            assert self._tls is not None
            await writer.start_tls(self._tls, ssl_handshake_timeout=self._timeouts.tls_handshake)
            conn.tls_started()


class _Watchdog:
    """Ends a connection that stays silent too long (RFC 5321 §4.5.3.2).

    One timer per connection, re-armed lazily when it fires, instead of a timeout context per
    read: the per-read timer showed up in the accept-path profile (bench/README.md).
    """

    def __init__(self, timeout: Callable[[], float], on_expire: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._on_expire = on_expire
        self._last = self._loop.time()
        self._handle = self._loop.call_at(self._last + timeout(), self._check)

    def touch(self) -> None:
        self._last = self._loop.time()

    def _check(self) -> None:
        deadline = self._last + self._timeout()
        if self._loop.time() >= deadline:
            self._on_expire()
        else:
            self._handle = self._loop.call_at(deadline, self._check)

    def cancel(self) -> None:
        self._handle.cancel()


def _close_with(writer: asyncio.StreamWriter, reply: Reply) -> None:
    """Say why, then close: the pending read sees EOF and the session ends normally."""
    if not writer.is_closing():
        writer.write(reply.format())
        writer.close()


async def _flush(writer: asyncio.StreamWriter, out: bytearray) -> None:
    if out:
        writer.write(bytes(out))
        out.clear()
        await writer.drain()


async def _say_and_close(writer: asyncio.StreamWriter, reply: Reply) -> None:
    writer.write(reply.format())
    await writer.drain()
