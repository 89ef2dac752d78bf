"""Events the sans-I/O POP3 server connection emits, and the responses it formats.

Each command event is answered with exactly one `Pop3Connection.send(response)`. The state the
connection moves to is decided by the connection from the command and whether the answer was
"+OK" (see server.py); the policy session only decides *what* to answer.
"""

from __future__ import annotations

from dataclasses import dataclass


class _NeedData:
    """Sentinel: the connection needs more bytes before it can produce another event."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True, slots=True)
class Response:
    """ "+OK" or "-ERR" with an optional RFC 2449 response code ("AUTH", "IN-USE", ...).

    `body`, when set on a positive response, is sent as a multi-line response: its lines are
    CRLF-terminated, dot-stuffed and followed by ".\\r\\n" (RFC 1939 §3). `challenge`, when set,
    makes this a SASL continuation "+ <base64>" instead (RFC 5034 §4).
    """

    ok: bool
    text: str = ""
    code: str | None = None
    body: bytes | None = None
    challenge: str | None = None


def ok(text: str = "", body: bytes | None = None) -> Response:
    return Response(True, text, body=body)


def err(text: str, code: str | None = None) -> Response:
    return Response(False, text, code)


def continuation(challenge_b64: str) -> Response:
    return Response(True, challenge=challenge_b64)


@dataclass(frozen=True, slots=True)
class User:
    name: str


@dataclass(frozen=True, slots=True)
class Pass:
    password: str  # the rest of the line: RFC 1939 §7 lets it contain spaces


@dataclass(frozen=True, slots=True)
class Auth:
    """RFC 5034 AUTH. initial_response: decoded bytes (b"" for "="), None when absent."""

    mechanism: str  # upper-cased
    initial_response: bytes | None


@dataclass(frozen=True, slots=True)
class AuthResponse:
    """A client line during a SASL exchange: decoded bytes, or cancelled for "*"."""

    data: bytes
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class Capa:
    pass


@dataclass(frozen=True, slots=True)
class Stls:
    """Answer +OK, then upgrade the transport and call Pop3Connection.tls_started()."""


@dataclass(frozen=True, slots=True)
class Stat:
    pass


@dataclass(frozen=True, slots=True)
class List:
    msg: int | None  # None: scan listing of every message


@dataclass(frozen=True, slots=True)
class Retr:
    msg: int


@dataclass(frozen=True, slots=True)
class Dele:
    msg: int


@dataclass(frozen=True, slots=True)
class Rset:
    pass


@dataclass(frozen=True, slots=True)
class Noop:
    pass


@dataclass(frozen=True, slots=True)
class Top:
    msg: int
    lines: int


@dataclass(frozen=True, slots=True)
class Uidl:
    msg: int | None


@dataclass(frozen=True, slots=True)
class Quit:
    """In TRANSACTION the session enters UPDATE (applies deletions) before answering."""


@dataclass(frozen=True, slots=True)
class CommandError:
    """A line refused by the connection (unknown, out of state, bad syntax, too long).

    Send `response` (or another -ERR); the state does not change. Policy counts these.
    """

    response: Response
    line: bytes = b""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed (EOF), or QUIT was answered. No reply."""


Event = (
    User
    | Pass
    | Auth
    | AuthResponse
    | Capa
    | Stls
    | Stat
    | List
    | Retr
    | Dele
    | Rset
    | Noop
    | Top
    | Uidl
    | Quit
    | CommandError
    | ConnectionClosed
)
