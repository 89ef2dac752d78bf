"""The asyncio adapter: the only SMTP module that touches sockets, TLS and timeouts.

An `asyncio.Protocol` per connection moves bytes between the transport and the sans-I/O
`ServerConnection` and asks `InboundSession` what to answer. Most answers are synchronous, so a
burst of pipelined commands is handled inside one `data_received` call and its replies go out in
one write (RFC 2920 §3.1 lets the server hold replies until the client waits for them). Only
storing a message, checking a password, the STARTTLS handshake and the error tarpit need to
wait: then reading pauses and a task finishes that answer before the next event is taken.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, cast

from roost.listen import ConnectionLimiter, IdleTimer, half_close_ok, shut_down_all
from roost.obs.log import log_event
from roost.smtp.events import NEED_DATA, ConnectionClosed, Event
from roost.smtp.inbound import Answer, ClientInfo, InboundSession, ListenerPolicy, ServerContext
from roost.smtp.received import TlsInfo
from roost.smtp.reply import (
    C421_SHUTTING_DOWN,
    C421_TIMEOUT,
    C421_TOO_MANY_CONNECTIONS,
    Reply,
)
from roost.smtp.server import ServerConnection, ServerOptions, State

log = logging.getLogger("roost.smtp")

_DATA_STATES = frozenset({State.DATA, State.BDAT})


@dataclass(frozen=True, slots=True)
class Timeouts:
    command: float
    data: float
    tls_handshake: float = 30.0


def tls_info(transport: asyncio.BaseTransport) -> TlsInfo | None:
    obj = transport.get_extra_info("ssl_object")
    if obj is None:
        return None
    cipher = obj.cipher()
    name, bits = (cipher[0], cipher[2]) if cipher else ("unknown", 0)
    return TlsInfo(version=obj.version() or "TLS", cipher=name, bits=bits)


class SmtpHandler:
    """One listener (mx, submission or submissions): the protocol factory and its connections."""

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
        self.context = context
        self.policy = policy
        self.options = options
        self.tls = tls_context
        self.limiter = limiter
        self.timeouts = timeouts
        self.connections: set[SmtpProtocol] = set()

    def __call__(self) -> SmtpProtocol:
        return SmtpProtocol(self)

    async def shutdown(self, grace: float) -> None:
        """Idle sessions get 421 now; busy ones finish their answer first, up to `grace`."""
        await shut_down_all(self.connections, grace)


class SmtpProtocol(asyncio.Protocol):
    """One SMTP connection: framing in the sans-I/O core, policy in the session, I/O here."""

    def __init__(self, handler: SmtpHandler) -> None:
        self._handler = handler
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None
        self._ip = "?"
        self._admitted = False
        self._finished = False
        self._stopping = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("?", 0)
        self._ip, port = str(peer[0]), int(peer[1])
        handler = self._handler
        handler.connections.add(self)
        if not handler.limiter.acquire(self._ip):
            self._transport.write(C421_TOO_MANY_CONNECTIONS.format())
            self._transport.close()
            return
        self._admitted = True
        self._conn = ServerConnection(handler.options)
        client = ClientInfo(self._ip, port, handler.policy, tls=self._tls_info)
        self._session = InboundSession(handler.context, client, self._conn)
        log_event(log, "connect", session=self._session.session_id,
                  client=f"{self._ip}:{port}", listener=handler.policy.name)  # fmt: skip
        self._watchdog = IdleTimer(self._timeout, self._expire)
        greeting = self._session.greeting()
        self._transport.write(greeting.format())
        if greeting.code == 421:  # RFC 5321 §3.8: refused at connect (e.g. rate): say so, close
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        if not self._admitted or self._finished:
            return
        self._watchdog.touch()
        self._conn.receive_data(data)
        if self._task is None:
            self._pump()

    def eof_received(self) -> bool:
        if self._admitted and not self._finished:
            self._conn.receive_data(b"")
            if self._task is None:
                self._pump()
        return half_close_ok(self._transport)  # we close it ourselves, after the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()  # a client that does not read its replies waits

    def resume_writing(self) -> None:
        if self._transport is not None and self._task is None and not self._finished:
            self._transport.resume_reading()

    # --- the event pump ------------------------------------------------------------------
    def _pump(self) -> None:
        """Answer every event that can be answered now; hand the first slow one to a task."""
        out = bytearray()
        conn, session = self._conn, self._session
        while not conn.wants_close:
            event = conn.next_event()
            if event is NEED_DATA:
                break
            answer = session.handle(event)  # type: ignore[arg-type]
            if isinstance(event, ConnectionClosed):
                break
            if answer is None:
                continue
            if not isinstance(answer, Reply) or self._needs_task(answer):
                self._write(out)
                self._start(self._slow(event, answer))  # type: ignore[arg-type]
                return
            out += conn.send(answer)
            if session.start_tls_requested:
                self._write(out)
                self._start(self._start_tls())
                return
        self._write(out)
        if conn.wants_close or self._stopping:
            self._close()

    def _needs_task(self, reply: Reply) -> bool:
        return not reply.is_positive and self._session.penalty() > 0

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        assert self._transport is not None
        self._transport.pause_reading()
        self._task = asyncio.get_running_loop().create_task(self._run(work))

    async def _run(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError) as exc:
            log_event(log, "connection lost", logging.DEBUG, client=self._ip, error=repr(exc))
            self.abort()
        finally:
            self._task = None
        if self._finished or self._transport is None:
            return
        if self._stopping:
            self.shut_down()
            return
        self._transport.resume_reading()
        self._pump()

    async def _slow(self, event: Event, answer: Answer) -> None:
        reply = answer if isinstance(answer, Reply) else await answer
        delay = self._session.penalty()
        if delay and not reply.is_positive:
            await asyncio.sleep(delay)  # tarpit: an abusive client waits, others don't
        self._write(self._conn.send(reply))
        if self._session.start_tls_requested:
            await self._start_tls()

    async def _start_tls(self) -> None:
        """RFC 3207: upgrade in place after the 220; the core then forgets the plaintext state."""
        self._session.start_tls_requested = False
        transport, tls = self._transport, self._handler.tls
        assert transport is not None
        assert tls is not None
        loop = asyncio.get_running_loop()
        new = await loop.start_tls(
            transport, self, tls, server_side=True,
            ssl_handshake_timeout=self._handler.timeouts.tls_handshake,
        )  # fmt: skip
        if new is None:
            raise ConnectionError("TLS handshake did not complete")
        self._transport = new
        self._conn.tls_started()

    # --- output and teardown -------------------------------------------------------------
    def _write(self, data: bytes | bytearray) -> None:
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(bytes(data))

    def _close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def shut_down(self) -> None:
        """Server stopping: say 421 and close now, or right after the answer in progress."""
        self._stopping = True
        if self._task is None and self._admitted and not self._finished:
            self._write(C421_SHUTTING_DOWN.format())
            self._close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
        self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._handler.connections.discard(self)
        if self._admitted:
            self._watchdog.cancel()
            self._session.close()
            self._handler.limiter.release(self._ip)
            log_event(log, "disconnect", session=self._session.session_id, client=self._ip,
                      messages=self._session.messages, errors=self._session.errors)  # fmt: skip
        if not self.done.done():
            self.done.set_result(None)

    # --- timeouts --------------------------------------------------------------------------
    def _timeout(self) -> float:
        timeouts = self._handler.timeouts
        return timeouts.data if self._conn.state in _DATA_STATES else timeouts.command

    def _expire(self) -> None:
        """RFC 5321 §4.5.3.2: a client silent too long is told so and disconnected."""
        self._write(C421_TIMEOUT.format())
        self._close()

    def _tls_info(self) -> TlsInfo | None:
        return tls_info(self._transport) if self._transport is not None else None
