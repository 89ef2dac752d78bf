"""The sans-I/O POP3 server connection (RFC 1939, RFC 2449, RFC 2595, RFC 5034).

Bytes go in with `receive_data`, events come out of `next_event`, and `send(response)` formats
the answer and applies the state change it implies. The connection alone decides which command
is legal in which state (AUTHORIZATION, the SASL exchange, TRANSACTION) and refuses the others
with a `CommandError`; the policy session (session.py) decides what to answer. No asyncio,
sockets, ssl or clock here: the adapter (aio.py) does the I/O.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass

from roost.pop3 import events as ev
from roost.pop3.events import NEED_DATA, Event, Response, _NeedData

__all__ = ["LocalProtocolError", "Pop3Connection", "Pop3Options", "State", "format_response"]


class LocalProtocolError(Exception):
    """The caller used the connection wrongly (answered nothing, answered twice, ...)."""


class State(enum.Enum):
    AUTHORIZATION = "authorization"
    SASL = "sasl"  # "+ " continuation sent, waiting for the client's response line
    TLS_PENDING = "tls-pending"  # +OK to STLS sent, waiting for tls_started()
    TRANSACTION = "transaction"
    CLOSED = "closed"  # after QUIT (UPDATE happened in the session before the +OK)


@dataclass(frozen=True, slots=True)
class Pop3Options:
    tls_active: bool = False  # implicit TLS (pop3s, RFC 8314)
    allow_plaintext_auth: bool = False  # USER/PASS/AUTH before STLS (RFC 2595 §2.1)
    # RFC 2449 §4: commands fit 255 octets; we allow up to 1000 (incl. CRLF) for lenience.
    max_command_line: int = 1000
    # AUTH lines carry base64 (RFC 5034 §4 sets no 255-octet limit); also bounds the buffer.
    max_auth_line: int = 4096


ERR_UNKNOWN = ev.err("Unknown command")
ERR_STATE = ev.err("Command not valid in this state")
ERR_SYNTAX = ev.err("Syntax error")
ERR_TOO_LONG = ev.err("Line too long")
ERR_NUMBER = ev.err("Invalid message number")
ERR_NEED_TLS = ev.err("Log in after STLS: plaintext authentication is disabled")
ERR_USER_FIRST = ev.err("USER first")
ERR_BASE64 = ev.err("Invalid base64")
ERR_TLS_ACTIVE = ev.err("TLS already active")

_AUTHORIZATION = frozenset({"USER", "PASS", "AUTH", "CAPA", "STLS", "QUIT"})
_TRANSACTION = frozenset(
    {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "QUIT", "CAPA"}
)
_KNOWN = _AUTHORIZATION | _TRANSACTION
_LOGIN = frozenset({"USER", "PASS", "AUTH"})


class _TooLong:
    """Marker returned by the line reader for a line over the limit."""


_TOO_LONG = _TooLong()


class Pop3Connection:
    """One POP3 server connection's protocol state, fed bytes and answered with responses."""

    def __init__(self, options: Pop3Options = Pop3Options()) -> None:
        self._opts = options
        self._buf = bytearray()
        self._state = State.AUTHORIZATION
        self._tls = options.tls_active
        self._user_ok = False  # a +OK to USER was the previous answer: PASS may follow
        self._pending: Event | None = None
        self._skipping = False
        self._eof = False
        self._greeted = False

    # --- properties -------------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def tls_active(self) -> bool:
        return self._tls

    @property
    def wants_close(self) -> bool:
        return self._state is State.CLOSED

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf)

    @property
    def login_allowed(self) -> bool:
        """USER/PASS/AUTH may be used now (under TLS, or plaintext login allowed)."""
        return self._tls or self._opts.allow_plaintext_auth

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
            # RFC 2595 §4 (as RFC 3207 §5): bytes sent before the TLS handshake are discarded.
            self._buf += data

    def next_event(self) -> Event | _NeedData:
        """The next event, or NEED_DATA. Each command event must be answered before the next."""
        if self._pending is not None:
            raise LocalProtocolError(f"answer {self._pending!r} before reading on")
        if self._state is State.CLOSED:
            return ev.ConnectionClosed()
        event = None if self._state is State.TLS_PENDING else self._read_event()
        if event is not None:
            self._pending = event
            return event
        if self._eof:
            self._close()
            return ev.ConnectionClosed()
        return NEED_DATA

    def _read_event(self) -> Event | None:
        line = self._next_line()
        if line is None:
            return None
        if isinstance(line, _TooLong):
            return ev.CommandError(ERR_TOO_LONG)
        if self._state is State.SASL:
            return self._auth_response(line)
        return self._command(line)

    def _next_line(self) -> bytes | _TooLong | None:
        """The next line without its CRLF (a bare LF is accepted too); memory stays bounded."""
        limit = self._opts.max_auth_line
        idx = self._buf.find(b"\n")
        if self._skipping:
            if idx < 0:
                self._buf.clear()
                return None
            del self._buf[: idx + 1]
            self._skipping = False
            return _TOO_LONG
        if idx < 0:
            if len(self._buf) > limit:
                self._skipping = True
                self._buf.clear()
            return None
        line = bytes(self._buf[: idx + 1])
        del self._buf[: idx + 1]
        if len(line) > limit:
            return _TOO_LONG
        return line.rstrip(b"\r\n") if line.endswith(b"\r\n") else line[:-1]

    def _auth_response(self, line: bytes) -> Event:
        if line.strip() == b"*":
            return ev.AuthResponse(b"", cancelled=True)
        data = _b64(line.strip())
        if data is None:
            return ev.CommandError(ERR_BASE64, line)
        return ev.AuthResponse(data)

    def _command(self, raw: bytes) -> Event:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return ev.CommandError(ERR_SYNTAX, raw)
        verb, _, rest = text.partition(" ")
        verb = verb.upper()
        if verb not in _KNOWN:
            return ev.CommandError(ERR_UNKNOWN, raw)
        if verb != "AUTH" and len(raw) + 2 > self._opts.max_command_line:
            return ev.CommandError(ERR_TOO_LONG, raw)
        legal = _AUTHORIZATION if self._state is State.AUTHORIZATION else _TRANSACTION
        if verb not in legal:
            return ev.CommandError(ERR_STATE, raw)
        if verb in _LOGIN and not self.login_allowed:
            return ev.CommandError(ERR_NEED_TLS, raw)
        if verb == "PASS" and not self._user_ok:
            return ev.CommandError(ERR_USER_FIRST, raw)
        if verb == "STLS" and self._tls:
            return ev.CommandError(ERR_TLS_ACTIVE, raw)
        event = _parse(verb, rest)
        if isinstance(event, Response):
            return ev.CommandError(event, raw)
        return event

    # --- output -----------------------------------------------------------------------------
    def greeting(self, text: str) -> bytes:
        """The "+OK" greeting (RFC 1939 §4), sent once before any event."""
        if self._greeted:
            raise LocalProtocolError("greeting sent twice")
        self._greeted = True
        return format_response(ev.ok(text))

    def send(self, response: Response) -> bytes:
        """Format `response` as the answer to the pending event and apply its state change."""
        if self._state is State.CLOSED:
            raise LocalProtocolError("connection is closed")
        event, self._pending = self._pending, None
        if event is None:
            raise LocalProtocolError("no event awaits a response")
        if response.challenge is not None and not isinstance(event, ev.Auth | ev.AuthResponse):
            raise LocalProtocolError("a continuation answers AUTH only")
        self._transition(event, response)
        return format_response(response)

    def _transition(self, event: Event, response: Response) -> None:
        user_ok = False
        if isinstance(event, ev.User):
            user_ok = response.ok
        elif isinstance(event, ev.Pass | ev.Auth | ev.AuthResponse):
            if response.challenge is not None:
                self._state = State.SASL
            elif response.ok:
                self._state = State.TRANSACTION
            else:
                self._state = State.AUTHORIZATION
        elif isinstance(event, ev.Stls) and response.ok:
            self._state = State.TLS_PENDING
            self._buf.clear()  # pipelined plaintext must not run inside TLS (CVE-2011-0411)
        elif isinstance(event, ev.Quit):
            self._close()
        elif self._state is State.SASL:
            self._state = State.AUTHORIZATION  # RFC 5034 §4: a bad response ends the exchange
        if self._state is State.AUTHORIZATION:
            self._user_ok = user_ok

    def close(self) -> None:
        """Policy ends the session (too many errors, shutdown, timeout) after its answer."""
        self._close()

    def _close(self) -> None:
        self._state = State.CLOSED
        self._pending = None
        self._buf.clear()

    def tls_started(self) -> None:
        """The transport is now TLS: forget everything said in plaintext (RFC 2595 §4)."""
        if self._state is not State.TLS_PENDING:
            raise LocalProtocolError("tls_started() without a +OK to STLS")
        self._state = State.AUTHORIZATION
        self._tls = True
        self._user_ok = False
        self._buf.clear()


def _b64(data: bytes) -> bytes | None:
    if data == b"=":
        return b""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _number(value: str) -> int | None:
    """A message number: decimal, positive (RFC 1939 §3 "msg")."""
    if not value.isascii() or not value.isdigit() or len(value) > 9 or int(value) < 1:
        return None
    return int(value)


def _parse(verb: str, rest: str) -> Event | Response:
    """The event for a known verb, or the -ERR refusing its arguments."""
    args = rest.split()
    if verb == "USER":
        return ev.User(rest.strip()) if rest.strip() else ERR_SYNTAX
    if verb == "PASS":
        return ev.Pass(rest) if rest else ERR_SYNTAX
    if verb == "AUTH":
        if not args or len(args) > 2:
            return ERR_SYNTAX
        initial = _b64(args[1].encode("ascii", "replace")) if len(args) == 2 else None
        if len(args) == 2 and initial is None:
            return ERR_BASE64
        return ev.Auth(args[0].upper(), initial)
    simple: dict[str, Event] = {
        "CAPA": ev.Capa(),
        "STLS": ev.Stls(),
        "STAT": ev.Stat(),
        "NOOP": ev.Noop(),
        "RSET": ev.Rset(),
        "QUIT": ev.Quit(),
    }
    if verb in simple:
        return simple[verb] if not args else ERR_SYNTAX
    if verb in ("LIST", "UIDL"):
        if len(args) > 1:
            return ERR_SYNTAX
        msg = _number(args[0]) if args else None
        if args and msg is None:
            return ERR_NUMBER
        return ev.List(msg) if verb == "LIST" else ev.Uidl(msg)
    if verb in ("RETR", "DELE"):
        if len(args) != 1:
            return ERR_SYNTAX
        msg = _number(args[0])
        if msg is None:
            return ERR_NUMBER
        return ev.Retr(msg) if verb == "RETR" else ev.Dele(msg)
    # TOP msg n (RFC 1939 §7): n is a non-negative line count
    if len(args) != 2:
        return ERR_SYNTAX
    msg = _number(args[0])
    if msg is None:
        return ERR_NUMBER
    if not args[1].isascii() or not args[1].isdigit():
        return ERR_SYNTAX
    return ev.Top(msg, min(int(args[1]), 1 << 31))


_LINE_END = re.compile(rb"\r?\n")


def dot_stuff(body: bytes) -> bytes:
    """A multi-line response body: CRLF lines, leading dots doubled, then ".\\r\\n"."""
    if not body:
        return b".\r\n"
    data = _LINE_END.sub(b"\r\n", body)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data + b".\r\n"


def format_response(response: Response) -> bytes:
    if response.challenge is not None:
        return b"+ " + response.challenge.encode("ascii") + b"\r\n"
    parts = ["+OK" if response.ok else "-ERR"]
    if response.code:
        parts.append(f"[{response.code}]")
    if response.text:
        parts.append(response.text)
    head = " ".join(parts).encode("utf-8") + b"\r\n"
    if response.ok and response.body is not None:
        return head + dot_stuff(response.body)
    return head
