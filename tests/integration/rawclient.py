"""A deliberately dumb SMTP client over a raw socket, for sending what real clients never would."""

from __future__ import annotations

import socket
import ssl


class RawClient:
    def __init__(self, port: int, timeout: float = 15.0) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout
        )
        self._buf = b""
        self.greeting = self.reply()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by server")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line

    def reply(self) -> tuple[int, bytes]:
        """One complete (possibly multi-line) reply: (code, text of the last line)."""
        while True:
            line = self.line()
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), line[4:]

    def cmd(self, line: bytes) -> tuple[int, bytes]:
        self.send(line + b"\r\n")
        return self.reply()

    def closed_by_server(self) -> bool:
        """True once the server has closed the connection (EOF), reading any leftovers."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self._buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def starttls(self) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        assert isinstance(self.sock, socket.socket)
        self.sock = ctx.wrap_socket(self.sock)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
