"""A minimal IMAP client for benchmarks: plain TCP, one command at a time, literals skipped by
their length, so the client costs the same (and little) for every server it talks to."""

from __future__ import annotations

import contextlib
import re
import socket
import time

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


class ImapError(RuntimeError):
    pass


class Wire:
    """One connection. `command()` sends a line and reads up to its tagged completion."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 120.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.pos = 0
        self.n = 0
        greeting = self._line()
        if not greeting.startswith(b"* OK"):
            raise ImapError(f"greeting: {greeting!r}")

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ImapError("connection closed")
        if self.pos:
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += chunk

    def _line(self) -> bytes:
        """One response line, CRLF included; a literal's bytes are consumed with its line."""
        parts = []
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            while end < 0:
                self._fill()
                end = self.buf.find(b"\r\n", self.pos)
            line = self.buf[self.pos : end + 2]
            self.pos = end + 2
            parts.append(line)
            m = _LITERAL.search(line)
            if not m:
                return b"".join(parts)
            size = int(m.group(1))
            while len(self.buf) - self.pos < size:
                self._fill()
            parts.append(self.buf[self.pos : self.pos + size])
            self.pos += size

    def command(self, text: str) -> list[bytes]:
        """Untagged lines of the response; ImapError unless the completion is OK."""
        self.n += 1
        tag = f"b{self.n:05d}".encode()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        lines = []
        while True:
            line = self._line()
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1 :].startswith(b"OK"):
                    raise ImapError(f"{text}: {line!r}")
                return lines
            lines.append(line)

    def timed(self, text: str) -> tuple[float, list[bytes]]:
        start = time.perf_counter()
        lines = self.command(text)
        return time.perf_counter() - start, lines

    def login(self, user: str, password: str) -> None:
        self.command(f'LOGIN "{user}" "{password}"')

    def close(self) -> None:
        with contextlib.suppress(OSError, ImapError):
            self.command("LOGOUT")
        self.sock.close()


def count(lines: list[bytes], word: bytes) -> int:
    """Untagged responses of one kind, e.g. count(lines, b"FETCH")."""
    return sum(
        1 for line in lines if line.startswith(b"* ") and f" {word.decode()} ".encode() in line[:40]
    )


def search_hits(lines: list[bytes]) -> int:
    for line in lines:
        if line.startswith(b"* SEARCH"):
            return len(line.split()) - 2
    return 0
