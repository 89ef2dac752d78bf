"""Message framing for SMTP DATA (RFC 5321 §4.5.2, dot-stuffing) and BDAT (RFC 3030 §2).

Only CRLF "." CRLF ends DATA. A bare CR or LF never does, whatever follows it: honouring
"\\n.\\n" or "\\r\\n.\\n" as an end lets an attacker smuggle a second message past a server that
disagrees with the next hop ("SMTP smuggling", CVE-2023-51764/51765/51766). Bare line endings,
overlong lines and NUL octets are reported as flags on DataEnd so policy can refuse them.

Everything here works on an `InputBuffer` with bytes.find / split / replace, never per byte,
and holds back at most two bytes of a line, so memory stays bounded whatever the peer sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from roost.smtp.events import DataEnd

_END = b"\r\n.\r\n"
_COMPACT_AT = 65536


class InputBuffer:
    """Received bytes not yet consumed: a bytearray plus a read offset, compacted lazily.

    Slicing the consumed head off after every line would make pipelined input quadratic.
    """

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def __len__(self) -> int:
        return len(self._buf) - self._pos

    def append(self, data: bytes) -> None:
        self._buf += data

    def find(self, needle: bytes) -> int:
        """Offset of `needle` relative to the unread start, or -1."""
        idx = self._buf.find(needle, self._pos)
        return idx - self._pos if idx >= 0 else -1

    def peek(self, n: int) -> bytes:
        return bytes(self._buf[self._pos : self._pos + n])

    def take(self, n: int) -> bytes:
        """Consume and return the next `n` bytes (fewer if not available)."""
        out = bytes(self._buf[self._pos : self._pos + n])
        self.skip(len(out))
        return out

    def skip(self, n: int) -> None:
        self._pos = min(self._pos + n, len(self._buf))
        if self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif self._pos >= _COMPACT_AT and self._pos * 2 >= len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0

    def endswith(self, suffix: bytes) -> bool:
        return len(self) >= len(suffix) and self._buf.endswith(suffix)

    def clear(self) -> None:
        self._buf.clear()
        self._pos = 0


@dataclass(slots=True)
class _Flags:
    bare_line_ending: bool = False
    long_line: bool = False
    nul: bool = False


class DotReader:
    """Reads the DATA body after a 354: dot-unstuffs and finds the end (RFC 5321 §4.5.2).

    `read` returns (unstuffed bytes, finished). The CRLF before the final "." belongs to the
    message, so a non-empty message always ends with CRLF.
    """

    __slots__ = ("_at_line_start", "_flags", "_line_len", "_max_line")

    def __init__(self, max_line: int) -> None:
        self._max_line = max_line  # including CRLF (RFC 5321 §4.5.3.1.6)
        self._at_line_start = True  # the DATA command's own CRLF precedes the first line
        self._line_len = 0  # octets of the current, not yet terminated line already read
        self._flags = _Flags()

    def end_event(self) -> DataEnd:
        f = self._flags
        return DataEnd(bare_line_ending=f.bare_line_ending, long_line=f.long_line, nul=f.nul)

    def read(self, buf: InputBuffer) -> tuple[bytes, bool]:
        """Consume what can be decided from `buf`; return (message bytes, end seen)."""
        if self._at_line_start:
            head = buf.peek(3)
            if head == b".\r\n":  # a lone "." right after the previous CRLF
                buf.skip(3)
                return b"", True
            if head and b".\r\n".startswith(head):
                return b"", False  # might still become the end marker
        idx = buf.find(_END)
        if idx >= 0:
            out = self._process(buf.take(idx + 2))
            buf.skip(3)
            return out, True
        return self._process(buf.take(len(buf) - self._holdback(buf))), False

    @staticmethod
    def _holdback(buf: InputBuffer) -> int:
        """Trailing bytes that may start a CRLF or the end marker once more data arrives."""
        for suffix in (b"\r\n.\r", b"\r\n.", b"\r"):
            if buf.endswith(suffix):
                return len(suffix) - 2 if suffix.startswith(b"\r\n") else 1
        return 0

    def _process(self, raw: bytes) -> bytes:
        if not raw:
            return b""
        self._check(raw)
        out = raw[1:] if self._at_line_start and raw.startswith(b".") else raw
        # RFC 5321 §4.5.2: a line starting with "." had one more "." prepended; remove it.
        out = out.replace(b"\r\n.", b"\r\n")
        self._at_line_start = raw.endswith(b"\r\n")
        return out

    def _check(self, raw: bytes) -> None:
        flags = self._flags
        if not flags.nul and b"\0" in raw:
            flags.nul = True  # RFC 5322 §2.3 / §3.5: NUL is not allowed in a message
        crlf = raw.count(b"\r\n")
        # RFC 5321 §2.3.8: CR and LF only ever appear together as CRLF.
        if raw.count(b"\r") != crlf or raw.count(b"\n") != crlf:
            flags.bare_line_ending = True
        lines = raw.split(b"\r\n")
        first = self._line_len + len(lines[0])
        self._line_len = len(lines[-1]) if len(lines) > 1 else first
        if flags.long_line:
            return
        limit = self._max_line - 2  # the limit counts the CRLF
        if first > limit or self._line_len > limit or max(map(len, lines)) > limit:
            flags.long_line = True


class ChunkReader:
    """Reads exactly `size` raw bytes of a BDAT chunk (RFC 3030 §2: no dot-stuffing)."""

    __slots__ = ("last", "remaining")

    def __init__(self, size: int, *, last: bool) -> None:
        self.remaining = size
        self.last = last

    def read(self, buf: InputBuffer) -> tuple[bytes, bool]:
        """Consume up to the rest of the chunk; return (bytes, chunk complete)."""
        out = buf.take(self.remaining)
        self.remaining -= len(out)
        return out, self.remaining == 0
