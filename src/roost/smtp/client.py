"""The sans-I/O SMTP client connection (RFC 5321, with RFC 1870, 2920, 3030, 3207, 3461, 4954).

Command builders return the bytes to write and remember which reply each command awaits;
`receive_data` takes what the server sent and `next_event` hands back one complete reply at a
time, labelled with the command it answers, in the order the commands were written. That order
is the whole state: the adapter (roost.delivery.smtp_session) decides what to send next, and
this class makes sure no reply is read against the wrong command (pipelining, RFC 2920 §3.1,
answers commands strictly in order).
"""

from __future__ import annotations

import base64
import collections
import re
from collections.abc import Mapping
from dataclasses import dataclass

from roost.smtp.client_body import dot_stuff, xtext_encode
from roost.smtp.client_ehlo import Extensions, parse_ehlo
from roost.smtp.data import InputBuffer
from roost.smtp.errors import LocalProtocolError
from roost.smtp.events import NEED_DATA, ConnectionClosed, _NeedData
from roost.smtp.reply import Reply

__all__ = [
    "NEED_DATA",
    "ClientConnection",
    "ConnectionClosed",
    "Extensions",
    "ReplyError",
    "ServerReply",
    "dot_stuff",
    "parse_ehlo",
    "xtext_encode",
]

# RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; servers exceed it, so allow more,
# but bound memory for a peer that never ends a line or a multi-line reply.
MAX_REPLY_LINE = 4096
MAX_REPLY_LINES = 512
# RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39, then SP, "-" or the end of the line.
_REPLY_LINE = re.compile(r"([2-5][0-5][0-9])([ -]|$)(.*)", re.DOTALL)
# RFC 3463 §2: class.subject.detail, subject and detail of at most three digits.
_ENHANCED = re.compile(r"([245])\.([0-9]{1,3})\.([0-9]{1,3})(?: |$)")
# esmtp-value (RFC 5321 §4.1.2), plus UTF-8 under RFC 6531 §3.3.
_PARAM_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e\u0080-\U0010ffff]+")
_PARAM_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_GREETING = "GREETING"


class ReplyError(Exception):
    """The server sent something that is not an SMTP reply (or one we were not waiting for).

    The stream cannot be trusted after this; the adapter drops the connection and treats
    everything not yet final as a temporary failure.
    """


@dataclass(frozen=True, slots=True)
class ServerReply:
    """One complete (possibly multi-line) reply, and the command it answers."""

    code: int
    enhanced: str  # RFC 3463 "x.y.z" when the server sent one, else ""
    lines: tuple[str, ...]  # each line's text without the code and enhanced code
    command: str  # "GREETING", "EHLO", "MAIL", "RCPT", "DATA", "DATA-END", "BDAT", ...

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 300

    @property
    def transient(self) -> bool:
        return 400 <= self.code < 500

    def as_reply(self) -> Reply:
        return Reply(self.code, self.enhanced, self.text)


def _split_enhanced(code: int, text: str) -> tuple[str, str]:
    """Split a leading enhanced code off `text` when its class matches the reply's (RFC 3463)."""
    match = _ENHANCED.match(text)
    if match is None or int(match.group(1)) != code // 100:
        return "", text
    return f"{match.group(1)}.{match.group(2)}.{match.group(3)}", text[match.end() :]


class _ReplyReader:
    """Assembles reply lines into replies; bounded memory, strict syntax."""

    def __init__(self) -> None:
        self._buf = InputBuffer()
        self._lines: list[str] = []
        self._code = 0

    def feed(self, data: bytes) -> None:
        self._buf.append(data)

    def clear(self) -> None:
        self._buf.clear()
        self._lines = []
        self._code = 0

    @property
    def idle(self) -> bool:
        return not self._lines and len(self._buf) == 0

    def read(self) -> tuple[int, str, tuple[str, ...]] | None:
        """The next complete reply as (code, enhanced, lines), or None if incomplete."""
        while True:
            line = self._line()
            if line is None:
                return None
            done = self._add(line)
            if done:
                return self._finish()

    def _line(self) -> str | None:
        idx = self._buf.find(b"\n")
        if idx < 0:
            if len(self._buf) > MAX_REPLY_LINE:
                raise ReplyError("reply line too long")
            return None
        if idx + 1 > MAX_REPLY_LINE:
            raise ReplyError("reply line too long")
        # RFC 5321 §2.3.8 wants CRLF; a bare LF from a server is tolerated (it cannot smuggle
        # anything into a reply) but a CR inside the line is not.
        raw = self._buf.take(idx + 1)[:-1].removesuffix(b"\r")
        return raw.decode("utf-8", errors="replace")

    def _add(self, line: str) -> bool:
        match = _REPLY_LINE.fullmatch(line)
        if match is None or "\r" in line:
            raise ReplyError(f"malformed reply line {line[:80]!r}")
        code = int(match.group(1))
        # RFC 5321 §4.2.1: every line of a multi-line reply carries the same code.
        if self._lines and code != self._code:
            raise ReplyError(f"reply code changed inside a multi-line reply: {line[:80]!r}")
        if len(self._lines) >= MAX_REPLY_LINES:
            raise ReplyError("multi-line reply too long")
        self._code = code
        self._lines.append(match.group(3))
        return match.group(2) != "-"

    def _finish(self) -> tuple[int, str, tuple[str, ...]]:
        code, lines = self._code, self._lines
        self._lines, self._code = [], 0
        enhanced, first = _split_enhanced(code, lines[0])
        rest = [_split_enhanced(code, t)[1] if enhanced else t for t in lines[1:]]
        return code, enhanced, (first, *rest)


class ClientConnection:
    """One SMTP client connection's protocol state: the commands still awaiting replies."""

    def __init__(self) -> None:
        self._reader = _ReplyReader()
        self._awaiting: collections.deque[str] = collections.deque([_GREETING])
        self._eof = False
        self._closed = False
        self._data_open = False  # a 354 to DATA was read; the body is due
        self._tls_pending = False  # a 220 to STARTTLS was read; tls_started() is due

    # --- input ------------------------------------------------------------------------------

    @property
    def awaiting(self) -> tuple[str, ...]:
        """The commands written whose replies have not been read yet, oldest first."""
        return tuple(self._awaiting)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the server; b"" means EOF."""
        if self._eof:
            if data:
                raise LocalProtocolError("receive_data after EOF")
            return
        if not data:
            self._eof = True
        elif not self._tls_pending:
            # RFC 3207 §5: bytes after the 220 to STARTTLS arrived in plaintext and could have
            # been injected; they are dropped, never read as replies inside TLS.
            self._reader.feed(data)

    def next_event(self) -> ServerReply | ConnectionClosed | _NeedData:
        """The next reply, NEED_DATA, or ConnectionClosed at EOF. Raises ReplyError."""
        if self._closed:
            return ConnectionClosed()
        parsed = self._reader.read()
        if parsed is None:
            if self._eof:
                self._closed = True
                return ConnectionClosed()
            return NEED_DATA
        return self._deliver(*parsed)

    def _deliver(self, code: int, enhanced: str, lines: tuple[str, ...]) -> ServerReply:
        if not self._awaiting:
            # RFC 5321 §3.8: a server may announce 421 and close without being asked.
            if code != 421:
                raise ReplyError(f"unsolicited reply {code}")
            return ServerReply(code, enhanced, lines, "UNSOLICITED")
        command = self._awaiting.popleft()
        if command == "DATA" and code == 354:
            self._data_open = True
        elif command == "STARTTLS" and code == 220:
            self._tls_pending = True
            self._reader.clear()
        if code == 221 and command == "QUIT":
            self._closed = True
        return ServerReply(code, enhanced, lines, command)

    def tls_started(self) -> None:
        """The transport is now TLS: RFC 3207 §4.2, the client must issue EHLO again."""
        if not self._tls_pending:
            raise LocalProtocolError("tls_started() without a 220 to STARTTLS")
        self._tls_pending = False
        self._reader.clear()

    # --- output -----------------------------------------------------------------------------

    def _command(self, awaits: str, line: str) -> bytes:
        if self._closed or self._tls_pending:
            raise LocalProtocolError(f"cannot send {awaits} now")
        if self._data_open:
            raise LocalProtocolError("send the message body after a 354")
        if "\r" in line or "\n" in line or "\0" in line:
            raise LocalProtocolError(f"CR, LF or NUL in a command: {line!r}")
        self._awaiting.append(awaits)
        return line.encode("utf-8") + b"\r\n"

    def ehlo(self, domain: str) -> bytes:
        return self._command("EHLO", f"EHLO {domain}")

    def helo(self, domain: str) -> bytes:
        return self._command("HELO", f"HELO {domain}")

    def starttls(self) -> bytes:
        return self._command("STARTTLS", "STARTTLS")

    def noop(self) -> bytes:
        return self._command("NOOP", "NOOP")

    def rset(self) -> bytes:
        return self._command("RSET", "RSET")

    def quit(self) -> bytes:
        return self._command("QUIT", "QUIT")

    def auth_plain(self, username: str, password: str, authzid: str = "") -> bytes:
        """RFC 4954 §4 initial response carrying RFC 4616 §2 "authzid NUL authcid NUL passwd"."""
        message = f"{authzid}\0{username}\0{password}".encode()
        return self._command("AUTH", "AUTH PLAIN " + _b64(message))

    def auth_login(self) -> bytes:
        """AUTH LOGIN (no initial response); answer each 334 with `auth_response`."""
        return self._command("AUTH", "AUTH LOGIN")

    def auth_response(self, data: bytes) -> bytes:
        """One base64 line of a SASL exchange after a 334 (RFC 4954 §4)."""
        return self._command("AUTH", _b64(data))

    def mail(self, reverse_path: str, params: Mapping[str, str | None] | None = None) -> bytes:
        """MAIL FROM:<reverse_path> with ESMTP parameters; "" is the null path."""
        return self._command("MAIL", f"MAIL FROM:<{reverse_path}>{_params(params)}")

    def rcpt(self, forward_path: str, params: Mapping[str, str | None] | None = None) -> bytes:
        return self._command("RCPT", f"RCPT TO:<{forward_path}>{_params(params)}")

    def data(self) -> bytes:
        return self._command("DATA", "DATA")

    def message(self, body: bytes) -> bytes:
        """The DATA payload after a 354: line endings normalised, dot-stuffed, terminated."""
        if not self._data_open:
            raise LocalProtocolError("message body before a 354 to DATA")
        self._data_open = False
        self._awaiting.append("DATA-END")
        return dot_stuff(body)

    def bdat(self, chunk: bytes, *, last: bool) -> bytes:
        """RFC 3030 §2: "BDAT size [LAST]" followed by exactly `size` raw octets."""
        head = self._command("BDAT", f"BDAT {len(chunk)}{' LAST' if last else ''}")
        return head + chunk


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _params(params: Mapping[str, str | None] | None) -> str:
    """ " KEY=VALUE KEY2" for the MAIL/RCPT line; values must already be xtext where needed."""
    out = []
    for key, value in (params or {}).items():
        bad_value = value is not None and not _PARAM_VALUE.fullmatch(value)
        if bad_value or not _PARAM_KEY.fullmatch(key):
            raise LocalProtocolError(f"bad ESMTP parameter {key}={value!r}")
        out.append(key if value is None else f"{key}={value}")
    return "".join(" " + item for item in out)


def read_ehlo(reply: ServerReply) -> Extensions:
    """The extensions of a 250 reply to EHLO (none for HELO or a refusal)."""
    if reply.command != "EHLO" or not reply.positive:
        return Extensions()
    return parse_ehlo(reply.lines)
