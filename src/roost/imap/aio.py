"""The asyncio adapter for IMAP: the only IMAP module with sockets, TLS and timers.

An `asyncio.Protocol` per connection feeds bytes to the sans-I/O `CommandReader`. While a
command runs, a task owns the connection and reading is paused (TCP pushes back on a client
that pipelines faster than we answer); an idle or IDLEing connection has no task at all, only
the protocol object, its reader and its session, which keeps 1,000 idle clients cheap.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import cast

from roost.imap import events as ev
from roost.imap import responses as r
from roost.imap.commands import Command
from roost.imap.core import ImapContext
from roost.imap.parser import CommandReader
from roost.imap.session import ImapSession
from roost.listen import ConnectionLimiter, IdleTimer, half_close_ok, shut_down_all
from roost.obs.log import log_event

log = logging.getLogger("roost.imap")

HIGH_WATER = 256 * 1024  # bytes buffered for a slow reader before a FETCH waits


class ImapHandler:
    """One listener (imap or imaps): the protocol factory and its connections."""

    def __init__(
        self,
        context: ImapContext,
        *,
        name: str,
        implicit_tls: bool,
        tls_context: ssl.SSLContext | None,
        limiter: ConnectionLimiter,
        idle_timeout: float,
        max_line: int,
        max_literal: int,
        tls_handshake_timeout: float = 30.0,
    ) -> None:
        self.context = context
        self.name = name
        self.implicit_tls = implicit_tls
        self.tls = tls_context
        self.limiter = limiter
        self.idle_timeout = idle_timeout
        self.max_line = max_line
        self.max_literal = max_literal
        self.tls_handshake_timeout = tls_handshake_timeout
        self.connections: set[ImapProtocol] = set()

    def __call__(self) -> ImapProtocol:
        return ImapProtocol(self)

    async def shutdown(self, grace: float) -> None:
        await shut_down_all(self.connections, grace)


class ImapProtocol(asyncio.Protocol):
    """One IMAP connection; also the session's `SessionIO`."""

    def __init__(self, handler: ImapHandler) -> None:
        self._handler = handler
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None
        self._ip = "?"
        self._admitted = False
        self._finished = False
        self._stopping = False
        self._writable: asyncio.Event | None = None
        self._woken = False
        self._out = bytearray()  # responses collected until the next flush (one TLS record each)
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("?", 0)
        self._ip, port = str(peer[0]), int(peer[1])
        handler = self._handler
        handler.connections.add(self)
        if not handler.limiter.acquire(self._ip):
            self._transport.write(r.untagged(r.Status.BYE, "Too many connections, try later"))
            self._transport.close()
            return
        self._admitted = True
        self._transport.set_write_buffer_limits(high=HIGH_WATER)
        self._reader = CommandReader(handler.max_line, handler.max_literal)
        self._session = ImapSession(handler.context, self, self._ip, tls=handler.implicit_tls)
        log_event(log, "connect", session=self._session.session_id,
                  client=f"{self._ip}:{port}", listener=handler.name)  # fmt: skip
        self._watchdog = IdleTimer(lambda: handler.idle_timeout, self._expire)
        self._transport.write(self._session.greeting())

    def data_received(self, data: bytes) -> None:
        if not self._admitted or self._finished:
            return
        self._watchdog.touch()
        self._reader.receive_data(data)
        self._kick()

    def eof_received(self) -> bool:
        if self._admitted and not self._finished:
            self._reader.receive_data(b"")
            self._kick()
        return half_close_ok(self._transport)  # we close it ourselves, after the answer

    def connection_lost(self, exc: Exception | None) -> None:
        if self._writable is not None:
            self._writable.set()
        self._finish()

    def pause_writing(self) -> None:
        self._writable = asyncio.Event()

    def resume_writing(self) -> None:
        if self._writable is not None:
            self._writable.set()
            self._writable = None

    # --- SessionIO -------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Collected and sent by `flush`: a response is many small lines, and one transport
        write per line would be one TLS record (and one syscall) per line."""
        self._out += data
        if len(self._out) >= HIGH_WATER:
            self.flush()

    def flush(self) -> None:
        if self._out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(bytes(self._out))
        self._out.clear()

    async def drain(self) -> None:
        self.flush()
        writable = self._writable
        if writable is not None:
            await writable.wait()
        if self._finished:
            raise ConnectionError("connection closed")

    async def start_tls(self) -> None:
        """RFC 9051 §6.2.1 / RFC 3207-style: upgrade in place; anything the client sent after
        STARTTLS in plaintext is discarded (command injection, RFC 9051 §11.1)."""
        self.flush()  # the tagged OK goes out in plaintext, before the handshake
        transport, tls = self._transport, self._handler.tls
        assert transport is not None
        assert tls is not None
        self._reader = CommandReader(self._handler.max_line, self._handler.max_literal)
        new = await asyncio.get_running_loop().start_tls(
            transport, self, tls, server_side=True,
            ssl_handshake_timeout=self._handler.tls_handshake_timeout,
        )  # fmt: skip
        if new is None:
            raise ConnectionError("TLS handshake did not complete")
        self._transport = new

    def expect_done(self) -> None:
        self._reader.expect_done()

    def expect_sasl(self) -> None:
        self._reader.expect_sasl()

    def wake(self) -> None:
        self._woken = True
        self._kick()

    # --- the command loop ------------------------------------------------------------------
    def _kick(self) -> None:
        if self._task is None and not self._finished:
            self._task = asyncio.get_running_loop().create_task(self._serve())

    async def _serve(self) -> None:
        transport = self._transport
        assert transport is not None
        transport.pause_reading()
        try:
            await self._commands()
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError) as exc:
            log_event(log, "connection lost", logging.DEBUG, client=self._ip, error=repr(exc))
            self.abort()
        finally:
            self._task = None
            self.flush()
        if self._finished or self._transport is None:
            return
        if self._stopping or self._session.close_requested:
            self._close()
            return
        self._transport.resume_reading()

    async def _commands(self) -> None:
        session = self._session
        while not session.close_requested and not self._finished:
            if self._woken:
                self._woken = False
                await session.idle_update()
            result = self._reader.next_command()
            if result is ev.NEED_DATA:
                self.flush()
                return
            if isinstance(result, ev.Closed):
                session.close_requested = True
                return
            if isinstance(result, ev.NeedContinuation):
                self.write(r.continuation("Ready for literal data"))
                self.flush()  # the client waits for it before sending the literal
            elif isinstance(result, ev.ParseError):
                session.bad(result.tag, result.text)
            elif isinstance(result, ev.Done):
                await session.idle_done()
            elif isinstance(result, ev.SaslResponse):
                await session.sasl_response(result.data)
            elif session.idling is not None:
                session.bad(None, "Expected DONE")
            else:
                await session.handle(cast(Command, result))
            if self._stopping and session.idling is None:
                self.write(r.untagged(r.Status.BYE, "Server shutting down"))
                session.close_requested = True

    # --- teardown -------------------------------------------------------------------------
    def _close(self) -> None:
        self.flush()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def shut_down(self) -> None:
        """Server stopping: idle connections get BYE now; a busy one after its command."""
        self._stopping = True
        if self._task is None and self._admitted and not self._finished:
            self.write(r.untagged(r.Status.BYE, "Server shutting down"))
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
                      user=self._session.user, errors=self._session.errors)  # fmt: skip
        if not self.done.done():
            self.done.set_result(None)

    def _expire(self) -> None:
        """RFC 9051 §5.4: the autologout timer (at least 30 minutes; IDLE counts as idle)."""
        if self._task is not None:
            self._watchdog.touch()
            self._watchdog.rearm()
            return
        self.write(r.untagged(r.Status.BYE, "Autologout; idle for too long"))
        self._close()
