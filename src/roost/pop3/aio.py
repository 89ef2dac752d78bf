"""The asyncio adapter for POP3: the only POP3 module with sockets, TLS and timers.

Modelled on roost.smtp.aio: an `asyncio.Protocol` per connection feeds bytes to the sans-I/O
`Pop3Connection` and asks `Pop3Session` what to answer. Synchronous answers to a pipelined burst
(RFC 2449 PIPELINING) go out in one write; a login (password check in a thread), RETR/TOP (blob
read), QUIT's UPDATE, STLS and the error tarpit run as a task with reading paused.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Coroutine
from typing import Any, cast

from roost.listen import ConnectionLimiter, IdleTimer, half_close_ok, shut_down_all
from roost.obs.log import log_event
from roost.pop3.events import NEED_DATA, ConnectionClosed, Response, err
from roost.pop3.server import Pop3Connection, Pop3Options, format_response
from roost.pop3.session import Answer, Pop3Context, Pop3Session

log = logging.getLogger("roost.pop3")

ERR_TOO_MANY_CONNECTIONS = err("Too many connections, try again later", "SYS/TEMP")
ERR_IDLE = err("Disconnected for inactivity")


class Pop3Handler:
    """One listener (pop3 or pop3s): the protocol factory and its connections."""

    def __init__(
        self,
        context: Pop3Context,
        options: Pop3Options,
        *,
        name: str,
        tls_context: ssl.SSLContext | None,
        limiter: ConnectionLimiter,
        idle_timeout: float,
        tls_handshake_timeout: float = 30.0,
    ) -> None:
        self.context = context
        self.options = options
        self.name = name
        self.tls = tls_context
        self.limiter = limiter
        self.idle_timeout = idle_timeout
        self.tls_handshake_timeout = tls_handshake_timeout
        self.connections: set[Pop3Protocol] = set()

    def __call__(self) -> Pop3Protocol:
        return Pop3Protocol(self)

    async def shutdown(self, grace: float) -> None:
        """Idle sessions are closed now (no UPDATE); busy ones finish first, up to `grace`."""
        await shut_down_all(self.connections, grace)


class Pop3Protocol(asyncio.Protocol):
    """One POP3 connection: framing in the sans-I/O core, policy in the session, I/O here."""

    def __init__(self, handler: Pop3Handler) -> None:
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
        self._transport = cast(asyncio.Transport, transport)  # uvloop: not a subclass
        peer = transport.get_extra_info("peername") or ("?", 0)
        self._ip, port = str(peer[0]), int(peer[1])
        handler = self._handler
        handler.connections.add(self)
        if not handler.limiter.acquire(self._ip):
            self._transport.write(format_response(ERR_TOO_MANY_CONNECTIONS))
            self._transport.close()
            return
        self._admitted = True
        self._conn = Pop3Connection(handler.options)
        self._session = Pop3Session(handler.context, self._conn, self._ip)
        log_event(log, "connect", session=self._session.session_id,
                  client=f"{self._ip}:{port}", listener=handler.name)  # fmt: skip
        self._watchdog = IdleTimer(lambda: handler.idle_timeout, self._expire)
        self._transport.write(self._conn.greeting(self._session.greeting().text))

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
            self._transport.pause_reading()  # a client that does not read (RETR) waits

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
            if isinstance(event, ConnectionClosed) or answer is None:
                break
            if not isinstance(answer, Response) or self._needs_task(answer):
                self._write(out)
                self._start(self._slow(answer))
                return
            out += self._send(answer)
            if session.start_tls_requested:
                self._write(out)
                self._start(self._start_tls())
                return
        self._write(out)
        if conn.wants_close or self._stopping:
            self._close()

    def _needs_task(self, response: Response) -> bool:
        return not response.ok and self._session.penalty() > 0

    def _send(self, response: Response) -> bytes:
        data = self._conn.send(response)
        if self._session.close_requested and not self._conn.wants_close:
            self._conn.close()
        return data

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
        if self._stopping or self._conn.wants_close:
            self._close()
            return
        self._transport.resume_reading()
        self._pump()

    async def _slow(self, answer: Answer) -> None:
        response = answer if isinstance(answer, Response) else await answer
        delay = self._session.penalty()
        if delay and not response.ok:
            await asyncio.sleep(delay)  # tarpit: an abusive client waits, others don't
        self._write(self._send(response))
        if self._session.start_tls_requested:
            await self._start_tls()

    async def _start_tls(self) -> None:
        """RFC 2595 §4: upgrade in place after the +OK; the core forgets the plaintext state."""
        self._session.start_tls_requested = False
        transport, tls = self._transport, self._handler.tls
        assert transport is not None
        assert tls is not None
        new = await asyncio.get_running_loop().start_tls(
            transport, self, tls, server_side=True,
            ssl_handshake_timeout=self._handler.tls_handshake_timeout,
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
        """Server stopping: close now (no UPDATE: nothing is deleted), or after the answer."""
        self._stopping = True
        if self._task is None and self._admitted and not self._finished:
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
            session = self._session
            session.close()  # releases the maildrop lock; marked deletions are forgotten
            self._handler.limiter.release(self._ip)
            log_event(log, "disconnect", session=session.session_id, client=self._ip,
                      retrieved=session.retrieved, deleted=session.expunged,
                      errors=session.errors)  # fmt: skip
        if not self.done.done():
            self.done.set_result(None)

    def _expire(self) -> None:
        """RFC 1939 §3: the autologout timer; the session ends without UPDATE."""
        if self._task is not None:
            self._watchdog.touch()  # an answer in progress (e.g. a slow UPDATE) is not idle
            self._watchdog.rearm()
            return
        self._write(format_response(ERR_IDLE))
        self._close()
