"""IMAP4rev2 command reader (RFC 9051 §2.2, §4.3; RFC 7888 LITERAL+): framing, then parsing.

`CommandReader` is sans-I/O: feed bytes with `receive_data`, call `next_command` until it
returns `NEED_DATA`. Framing is bounded: a line longer than `max_line` or a literal larger than
`max_literal` yields a tagged `ParseError`; refused LITERAL+ octets are skipped as they arrive,
never buffered, and the reader carries on with the next command.
"""

from __future__ import annotations

import enum
import re

from roost.imap import events as ev
from roost.imap.args import UID_COMMANDS, decode_sasl, parse_arguments
from roost.imap.commands import Command
from roost.imap.grammar import BadSyntax, Cursor

Result = (
    Command
    | ev.NeedData
    | ev.NeedContinuation
    | ev.ParseError
    | ev.Done
    | ev.SaslResponse
    | ev.Closed
)
_MARKER = re.compile(rb"~?\{([0-9]{1,20})(\+?)\}\Z")
_TAG = re.compile(rb"[!#$&',\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]{1,64}(?= |\Z)")
_MARKER_TAIL = 32  # octets kept while discarding a line, enough to see a literal marker


class Mode(enum.Enum):
    COMMAND = "command"
    DONE = "done"  # IDLE: the next line must be DONE
    SASL = "sasl"  # AUTHENTICATE: the next line is a base64 response or "*"


def parse_command(raw: bytes) -> Command:
    """Parse one complete command (lines, literals, final CRLF); raise BadSyntax."""
    cur = Cursor(raw)
    tag = cur.tag()
    if tag == "+":
        raise BadSyntax("bad tag")
    cur.sp()
    name = cur.atom().upper()
    uid = name == "UID"
    if uid:
        cur.sp()
        name = cur.atom().upper()
        if name not in UID_COMMANDS:
            raise BadSyntax(f"UID {name} is not a command")
    return parse_arguments(cur, tag, name, uid)


class CommandReader:
    """Frames and parses client commands; see the module docstring."""

    def __init__(self, max_line: int = 8192, max_literal: int = 64 * 1024 * 1024) -> None:
        self.max_line = max_line
        self.max_literal = max_literal
        self._buf = bytearray()
        self._cmd = bytearray()  # the current command so far, as received
        self._tag: str | None = None
        self._need = 0  # octets of an accepted literal still to copy into _cmd
        self._skip = 0  # octets of a refused LITERAL+ still to discard
        self._discarding = False  # dropping the rest of a refused command's line
        self._scan = 0  # where to resume looking for CRLF in _buf
        self._eof = False
        self._mode = Mode.COMMAND

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the peer; b"" means the peer closed the connection."""
        if not data:
            self._eof = True
        self._buf += data

    def expect_done(self) -> None:
        """The server answered IDLE with a continuation: the next line is DONE."""
        self._mode = Mode.DONE

    def expect_sasl(self) -> None:
        """The server sent an AUTHENTICATE challenge: the next line is the client's response."""
        self._mode = Mode.SASL

    def next_command(self) -> Result:
        while True:
            result = self._step()
            if result is not None:
                return result

    def _step(self) -> Result | None:
        """Advance the framing once; None means "call again"."""
        if self._skip:
            dropped = min(self._skip, len(self._buf))
            del self._buf[:dropped]
            self._skip -= dropped
            return None if not self._skip else self._need_data()
        if self._need:
            return self._copy_literal()
        line = self._take_line()
        if line is None:
            return self._overlong() or self._need_data()
        if self._discarding:
            return self._discard(line)
        return self._line(line)

    def _need_data(self) -> ev.NeedData | ev.Closed:
        return ev.Closed() if self._eof else ev.NEED_DATA

    def _copy_literal(self) -> Result | None:
        taken = min(self._need, len(self._buf))
        self._cmd += self._buf[:taken]
        del self._buf[:taken]
        self._need -= taken
        return None if not self._need else self._need_data()

    def _take_line(self) -> bytes | None:
        end = self._buf.find(b"\r\n", self._scan)
        if end < 0:
            self._scan = max(len(self._buf) - 1, 0)
            return None
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        self._scan = 0
        return line

    def _overlong(self) -> ev.ParseError | None:
        """A line that already exceeds max_line is refused now and dropped as it arrives."""
        if self._discarding:
            keep = len(self._buf) - _MARKER_TAIL
            if keep > 0:
                del self._buf[:keep]
                self._scan = max(len(self._buf) - 1, 0)
            return None
        if len(self._buf) <= self.max_line + 1:  # the last octet may be the CR of CRLF
            return None
        error = ev.ParseError(self._tag or self._prefix_tag(self._buf), "line too long")
        self._reset(discarding=True)
        del self._buf[:-_MARKER_TAIL]  # no CRLF in it: all of it belongs to the refused line
        self._scan = max(len(self._buf) - 1, 0)
        return error

    def _prefix_tag(self, data: bytes | bytearray) -> str | None:
        """The tag of an overlong line, judged on its first max_line + 1 octets only, so the
        answer does not depend on how the line was split into reads."""
        prefix = bytes(data[: min(self.max_line + 1, 65)])
        return _guess_tag(prefix) if b" " in prefix else None

    def _discard(self, line: bytes) -> Result | None:
        """Drop a refused command's line; a LITERAL+ on it is skipped too, then its next line."""
        marker = _MARKER.search(line)
        if marker is not None and marker.group(2):
            self._skip = int(marker.group(1))
            return None
        self._discarding = False
        return None

    def _line(self, line: bytes) -> Result | None:
        if self._mode is not Mode.COMMAND and not self._cmd:
            return self._special_line(line)
        if len(line) > self.max_line:
            self._tag = self._tag or self._prefix_tag(line)
            return self._refuse(line, "line too long")
        if not self._cmd:
            self._tag = _guess_tag(line)
        self._cmd += line + b"\r\n"
        marker = _MARKER.search(line)
        if marker is None:
            return self._complete()
        size = int(marker.group(1))
        if size > self.max_literal:
            return self._refuse(line, "literal too large")
        self._need = size
        if marker.group(2):
            return None
        return ev.NeedContinuation(self._tag or "*")

    def _refuse(self, line: bytes, text: str) -> ev.ParseError:
        """Refuse the current command; skip a LITERAL+ it announced (RFC 7888 §4)."""
        error = ev.ParseError(self._tag, text)
        marker = _MARKER.search(line)
        nonsync = marker is not None and bool(marker.group(2))
        self._reset(discarding=nonsync)
        if nonsync and marker is not None:
            self._skip = int(marker.group(1))
        return error

    def _complete(self) -> Result:
        raw = bytes(self._cmd)
        tag = self._tag
        self._reset(discarding=False)
        try:
            return parse_command(raw)
        except BadSyntax as exc:
            return ev.ParseError(tag, str(exc))

    def _special_line(self, line: bytes) -> Result:
        mode, self._mode = self._mode, Mode.COMMAND
        if mode is Mode.DONE:
            if line.upper() == b"DONE":
                return ev.Done()
            return ev.ParseError(None, "expected DONE")
        if line == b"*":
            return ev.SaslResponse(None)
        try:
            return ev.SaslResponse(decode_sasl(line.decode("ascii")))
        except (BadSyntax, UnicodeDecodeError):
            return ev.ParseError(None, "bad base64")

    def _reset(self, *, discarding: bool) -> None:
        self._cmd = bytearray()
        self._tag = None
        self._need = 0
        self._discarding = discarding


def _guess_tag(line: bytes | bytearray) -> str | None:
    """The tag at the start of a complete line, for error replies (None if it has none)."""
    found = _TAG.match(bytes(line[:65]))
    return found.group().decode("ascii") if found and found.group() != b"+" else None
