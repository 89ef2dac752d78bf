"""The sans-I/O SMTP server connection (RFC 5321, with RFC 3030, 3207, 4954, 6531).

Bytes go in with `receive_data`, events come out of `next_event`, and `send(reply)` formats the
answer and applies the state transition the state table (_state.py) assigns to it. No I/O, no
clock: the asyncio adapter (aio.py) and the policy session (inbound.py) sit on top.
"""

from __future__ import annotations

from dataclasses import dataclass

from roost.smtp import reply as r
from roost.smtp._state import (
    TRANSACTION_STATES,
    Effect,
    Flags,
    Kind,
    State,
    TransitionError,
    next_state,
    on_event,
    refusal,
)
from roost.smtp.data import ChunkReader, DotReader, InputBuffer
from roost.smtp.errors import LocalProtocolError
from roost.smtp.events import (
    NEED_DATA,
    ChunkEnd,
    CommandError,
    ConnectionClosed,
    Event,
    MailFrom,
    MessageData,
    _NeedData,
)
from roost.smtp.parser import (
    BdatTooLargeError,
    ParseContext,
    ParseError,
    command_kind,
    decode_line,
    parse_arguments,
    parse_auth_response,
    parse_bdat,
)

__all__ = ["LocalProtocolError", "ServerConnection", "ServerOptions", "State"]


@dataclass(frozen=True, slots=True)
class ServerOptions:
    # RFC 4954 §4: AUTH lines may be 12288 octets; other commands should fit 512 (RFC 5321
    # §4.5.3.1.4) but real clients exceed it, so every command gets the larger limit.
    max_command_line: int = 12288
    max_data_line: int = 1000  # incl. CRLF, RFC 5321 §4.5.3.1.6; longer sets DataEnd.long_line
    tls_active: bool = False  # True for implicit TLS (port 465, RFC 8314)
    chunking: bool = True  # accept BDAT (RFC 3030)
    smtputf8: bool = True  # accept the SMTPUTF8 MAIL parameter (RFC 6531)


class _TooLong:
    """Marker returned by the line reader for a line over max_command_line."""


_TOO_LONG = _TooLong()


class ServerConnection:
    """One SMTP server connection's protocol state, fed bytes and answered with replies."""

    def __init__(self, options: ServerOptions = ServerOptions()) -> None:
        self._opts = options
        self._buf = InputBuffer()
        self._state = State.GREETING_SENT
        self._tls = options.tls_active
        self._authenticated = False
        self._utf8_txn = False
        self._greeted = False  # a reply (the greeting or any answer) was sent
        self._pending: tuple[Kind, Event] | None = None
        self._reader: DotReader | ChunkReader | None = None
        self._reader_done = False
        self._discard = 0  # bytes of a refused BDAT chunk still to drop
        self._skipping = False  # inside a command line longer than max_command_line
        self._eof = False
        self._wants_close = False
        self._close_after_reply = False

    # --- properties -------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def tls_active(self) -> bool:
        return self._tls

    @property
    def authenticated(self) -> bool:
        return self._authenticated

    @property
    def in_transaction(self) -> bool:
        return self._state in TRANSACTION_STATES

    @property
    def wants_close(self) -> bool:
        return self._wants_close

    @property
    def pending_input(self) -> bool:
        """Unread bytes are buffered: with PIPELINING, more commands are already queued."""
        return len(self._buf) > 0

    @property
    def buffered_bytes(self) -> int:
        """How many received bytes are held; bounded by the line limits (for monitoring/tests)."""
        return len(self._buf)

    # --- input ------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; b"" means EOF."""
        if self._eof:
            if data:
                raise LocalProtocolError("receive_data after EOF")
            return
        if not data:
            self._eof = True
        elif self._state not in (State.TLS_PENDING, State.CLOSED):
            # RFC 3207 §5: bytes arriving between our 220 and the handshake are injected
            # plaintext; after QUIT nothing more is read.
            self._buf.append(data)

    def next_event(self) -> Event | _NeedData:
        """The next event, or NEED_DATA. Command events must be answered before the next one."""
        if self._pending is not None and self._pending[0] is not Kind.BDAT:
            raise LocalProtocolError(f"reply to {self._pending[1]!r} before reading on")
        if self._state is State.CLOSED:
            return ConnectionClosed()
        event = None if self._state is State.TLS_PENDING else self._read_event()
        if event is not None:
            self._greeted = True
            return event
        if self._eof:
            self._close()
            return ConnectionClosed()
        return NEED_DATA

    def _read_event(self) -> Event | None:
        if self._discard:
            n = min(self._discard, len(self._buf))
            self._buf.skip(n)
            self._discard -= n
            if self._discard:
                return None
        if self._reader is not None:
            return self._read_body()
        line = self._next_line()
        if line is None:
            return None
        if isinstance(line, _TooLong):
            return self._error(r.C500_LINE_TOO_LONG, b"")
        if self._state is State.AUTH:
            return self._auth_response(line)
        return self._command(line)

    def _next_line(self) -> bytes | _TooLong | None:
        """The next CRLF-terminated line without its CRLF; memory stays bounded.

        RFC 5321 §2.3.8: only CRLF ends a command line; a bare LF stays in the line, which is
        then refused (decode_line), rather than guessing as lenient servers do.
        """
        idx = self._buf.find(b"\r\n")
        if self._skipping:
            if idx < 0:
                self._drop_partial()
                return None
            self._buf.skip(idx + 2)
            self._skipping = False
            return _TOO_LONG
        if idx < 0:
            if len(self._buf) > self._opts.max_command_line:
                self._skipping = True
                self._drop_partial()
            return None
        if idx + 2 > self._opts.max_command_line:
            self._buf.skip(idx + 2)
            return _TOO_LONG
        line = self._buf.take(idx + 2)
        return line[:-2]

    def _drop_partial(self) -> None:
        # Keep a trailing CR: it may be the first half of the CRLF that ends the line.
        keep = 1 if self._buf.endswith(b"\r") else 0
        self._buf.skip(len(self._buf) - keep)

    def _read_body(self) -> Event | None:
        assert self._reader is not None
        if not self._reader_done:
            out, self._reader_done = self._reader.read(self._buf)
            if out:
                return MessageData(out)
        if not self._reader_done:
            return None
        reader, self._reader = self._reader, None
        if isinstance(reader, DotReader):
            return self._expect(Kind.DATA_END, reader.end_event())
        kind = Kind.LAST_CHUNK_END if reader.last else Kind.CHUNK_END
        return self._expect(kind, ChunkEnd(reader.last))

    def _expect(self, kind: Kind, event: Event) -> Event:
        """Record that `event` awaits a reply and apply any event-triggered transition."""
        self._pending = (kind, event)
        self._state = on_event(self._state, kind)
        return event

    def _error(self, reply: r.Reply, line: bytes) -> CommandError:
        return self._expect(Kind.ERROR, CommandError(reply, line))  # type: ignore[return-value]

    def _auth_response(self, line: bytes) -> Event:
        try:
            return self._expect(Kind.AUTH_RESPONSE, parse_auth_response(line))
        except ParseError as exc:
            return self._error(exc.reply, line)

    def _command(self, raw: bytes) -> Event:
        ctx = ParseContext(self._opts.smtputf8, self._opts.chunking, self._utf8_txn)
        try:
            kind, verb, rest = command_kind(decode_line(raw), ctx)
            if kind is Kind.BDAT:
                return self._bdat(rest, raw)
            refused = refusal(self._state, kind, Flags(self._authenticated, self._tls))
            if refused is not None:
                return self._error(refused, raw)
            return self._expect(kind, parse_arguments(kind, verb, rest, ctx))
        except ParseError as exc:
            return self._error(exc.reply, raw)

    def _bdat(self, rest: str, raw: bytes) -> Event:
        """BDAT's size is parsed before its sequence: the chunk must be read even if refused."""
        try:
            event = parse_bdat(rest)
        except BdatTooLargeError as exc:
            # We will not read 2 GB to find the next command, so answer, then close (421).
            self._close_after_reply = True
            return self._error(exc.reply, raw)
        refused = refusal(self._state, Kind.BDAT, Flags(self._authenticated, self._tls))
        if refused is not None:
            self._discard = event.size  # RFC 3030 §2: the chunk is consumed, then discarded
            return self._error(refused, raw)
        self._reader = ChunkReader(event.size, last=event.last)
        self._reader_done = False
        return self._expect(Kind.BDAT, event)

    # --- output -----------------------------------------------------------------------------

    def send(self, reply: r.Reply) -> bytes:
        """Format `reply` as the answer to the pending event and apply its transition."""
        if not 200 <= reply.code <= 599:
            raise LocalProtocolError(f"invalid reply code {reply.code}")
        if self._state is State.CLOSED:
            raise LocalProtocolError("connection is closed")
        if self._pending is None:
            return self._send_unsolicited(reply)
        kind, event = self._pending
        if kind is Kind.BDAT and reply.code != 421:
            raise LocalProtocolError("answer BDAT after its ChunkEnd event")
        try:
            new_state, effect = next_state(self._state, kind, reply.code)
        except TransitionError as exc:
            raise LocalProtocolError(str(exc)) from None
        self._pending = None
        self._apply(kind, event, reply, effect)
        self._set_state(new_state)
        return self._finish(reply)

    def _send_unsolicited(self, reply: r.Reply) -> bytes:
        """The greeting (before any event), or a 421 at any time (RFC 5321 §3.8)."""
        if self._greeted and reply.code != 421:
            raise LocalProtocolError("no event awaits a reply")
        self._greeted = True
        if reply.code == 421:
            self._close()
        return reply.format()

    def _apply(self, kind: Kind, event: Event, reply: r.Reply, effect: Effect) -> None:
        self._greeted = True
        if isinstance(event, MailFrom) and reply.code // 100 == 2:
            # RFC 6531 §3.4: SMTPUTF8 on MAIL allows UTF-8 in this transaction's RCPTs.
            self._utf8_txn = self._opts.smtputf8 and "SMTPUTF8" in event.params
        elif kind is Kind.DATA and reply.code // 100 == 3:
            self._reader = DotReader(self._opts.max_data_line)
            self._reader_done = False
        if effect is Effect.RESET:
            self._utf8_txn = False
        elif effect is Effect.AUTHENTICATED:
            self._authenticated = True
        elif effect is Effect.AWAIT_TLS:
            # RFC 3207 §5 (CVE-2011-0411): commands pipelined after STARTTLS came in plaintext
            # and must not be executed inside the TLS session.
            self._buf.clear()

    def _set_state(self, state: State) -> None:
        if state is State.CLOSED:
            self._close()
        else:
            self._state = state

    def _finish(self, reply: r.Reply) -> bytes:
        out = reply.format()
        if self._close_after_reply and self._state is not State.CLOSED:
            self._close()
            out += r.C421_CANNOT_RESYNC.format()
        return out

    def _close(self) -> None:
        self._state = State.CLOSED
        self._wants_close = True
        self._reader = None
        self._buf.clear()

    def tls_started(self) -> None:
        """The transport is now TLS: start over (RFC 3207 §4.2: EHLO again, forget everything)."""
        if self._state is not State.TLS_PENDING:
            raise LocalProtocolError("tls_started() without a 220 to STARTTLS")
        self._state = State.GREETING_SENT
        self._tls = True
        self._authenticated = False
        self._utf8_txn = False
        self._buf.clear()
