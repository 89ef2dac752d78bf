"""Events the sans-I/O SMTP server connection emits (RFC 5321 commands and message data).

Each command event must be answered with exactly one `ServerConnection.send(reply)`;
`MessageData` needs no reply. The connection's state table (_state.py) decides what the reply
code means for the next state (e.g. 250 to MAIL opens a transaction, 354 to DATA starts data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from roost.smtp.reply import Reply


class _NeedData:
    """Sentinel: the connection needs more bytes before it can produce another event."""

    _instance: _NeedData | None = None

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True, slots=True)
class Ehlo:
    domain: str  # the argument as given (domain or address literal)
    extended: bool  # True for EHLO, False for HELO


@dataclass(frozen=True, slots=True)
class MailFrom:
    reverse_path: str  # without brackets; "" is the null reverse-path <>
    params: dict[str, str | None] = field(default_factory=dict)  # upper-cased keys


@dataclass(frozen=True, slots=True)
class RcptTo:
    forward_path: str  # without brackets; "postmaster" (no domain) is allowed (§4.1.1.3)
    params: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Data:
    """The DATA command. Reply 354 to start reading the message, or an error."""


@dataclass(frozen=True, slots=True)
class Bdat:
    """RFC 3030 BDAT. The chunk's bytes follow as MessageData events, then ChunkEnd."""

    size: int
    last: bool


@dataclass(frozen=True, slots=True)
class MessageData:
    """A piece of the message: dot-unstuffed DATA lines, or raw BDAT bytes. No reply."""

    data: bytes


@dataclass(frozen=True, slots=True)
class DataEnd:
    """End of DATA (CRLF.CRLF seen). Reply 250 once stored, or an error.

    The flags report what the framing saw, so policy can refuse it: a bare CR or LF anywhere
    (SMTP smuggling uses them to fake an end of data), a line longer than the connection's limit,
    a NUL octet (RFC 5322 §3.5 forbids it).
    """

    bare_line_ending: bool = False
    long_line: bool = False
    nul: bool = False


@dataclass(frozen=True, slots=True)
class ChunkEnd:
    """All bytes of one BDAT chunk were read. Reply 250 (or an error) once per BDAT."""

    last: bool


@dataclass(frozen=True, slots=True)
class Rset:
    pass


@dataclass(frozen=True, slots=True)
class Noop:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    """Reply 221; the connection is then closed (state CLOSED)."""


@dataclass(frozen=True, slots=True)
class Help:
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Vrfy:
    argument: str


@dataclass(frozen=True, slots=True)
class Expn:
    argument: str


@dataclass(frozen=True, slots=True)
class StartTls:
    """Reply 220 then upgrade the transport and call ServerConnection.tls_started()."""


@dataclass(frozen=True, slots=True)
class Auth:
    """RFC 4954 AUTH. initial_response is the decoded bytes (b"" for "="), None when absent."""

    mechanism: str  # upper-cased
    initial_response: bytes | None


@dataclass(frozen=True, slots=True)
class AuthResponse:
    """A client line during a SASL exchange: the decoded bytes, or cancelled for "*"."""

    data: bytes
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class CommandError:
    """A line the connection could not accept (syntax, unknown verb, out of sequence, too long).

    Send `reply` (or another) as the answer; the state does not change. Policy counts these.
    """

    reply: Reply
    line: bytes = b""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed (EOF), or QUIT was answered. No reply."""


Event = (
    Ehlo
    | MailFrom
    | RcptTo
    | Data
    | Bdat
    | MessageData
    | DataEnd
    | ChunkEnd
    | Rset
    | Noop
    | Quit
    | Help
    | Vrfy
    | Expn
    | StartTls
    | Auth
    | AuthResponse
    | CommandError
    | ConnectionClosed
)
