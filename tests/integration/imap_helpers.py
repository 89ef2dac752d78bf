"""imaplib clients for the socket-level IMAP tests."""

from __future__ import annotations

import contextlib
import imaplib
import smtplib
import socket
from email.message import EmailMessage

from tests.integration.harness import ALICE, ALICE_PASSWORD, RunningServer, client_tls


def imap_login(
    server: RunningServer, user: str = ALICE, password: str = ALICE_PASSWORD
) -> imaplib.IMAP4:
    """STARTTLS then LOGIN, as a desktop client on port 143 does."""
    client = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
    client.starttls(ssl_context=client_tls())
    client.login(user, password)
    return client


def imaps_login(
    server: RunningServer, user: str = ALICE, password: str = ALICE_PASSWORD
) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL(
        "127.0.0.1", server.port("imaps"), ssl_context=client_tls(), timeout=30
    )
    client.login(user, password)
    return client


def make_message(subject: str, body: str = "Hello.\n", sender: str = "carol@remote.example",
                 to: str = ALICE) -> bytes:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash(subject))}@remote.example>"
    msg["Date"] = "Sun, 22 Nov 2026 10:00:00 +0000"
    msg.set_content(body)
    return msg.as_bytes().replace(b"\n", b"\r\n")


def deliver(server: RunningServer, subject: str, to: str = ALICE, body: str = "Hello.\n") -> None:
    """Deliver one message through the MX listener (SMTP), as the Internet would."""
    with smtplib.SMTP("127.0.0.1", server.port("mx"), timeout=30) as smtp:
        smtp.sendmail("carol@remote.example", [to], make_message(subject, body, to=to))


def ok(result: tuple[str, list[object]]) -> list[object]:
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


class RawImap:
    """A line-level client for exact assertions: `command` returns every response line up to
    and including the tagged one, literals inlined; `send`/`read_until` for IDLE and friends."""

    def __init__(self, server: RunningServer, *, login: bool = True, user: str = ALICE,
                 password: str = ALICE_PASSWORD) -> None:  # fmt: skip
        raw = socket.create_connection(("127.0.0.1", server.port("imaps")), timeout=30)
        self.sock = client_tls().wrap_socket(raw)
        self.file = self.sock.makefile("rb")
        self.greeting = self.readline()
        self._n = 0
        if login:
            lines = self.command(f'LOGIN {user} "{password}"')
            assert lines[-1].split()[1] == b"OK", lines

    def readline(self) -> bytes:
        line = self.file.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        while line.endswith(b"}\r\n") and b"{" in line:
            size = int(line[line.rindex(b"{") + 1 : -3].rstrip(b"+"))
            line = line + self.file.read(size) + self.file.readline()
        return line

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, tag: bytes | None = None, prefix: bytes | None = None) -> list[bytes]:
        """Lines up to the one that starts with `tag + b" "` (or with `prefix`)."""
        lines = []
        for _ in range(1_000_000):
            line = self.readline()
            lines.append(line)
            if tag is not None and line.startswith(tag + b" "):
                return lines
            if prefix is not None and line.startswith(prefix):
                return lines
        raise AssertionError("no end of response")

    def command(self, text: str | bytes) -> list[bytes]:
        self._n += 1
        tag = b"t%d" % self._n
        data = text.encode() if isinstance(text, str) else text
        self.send(tag + b" " + data + b"\r\n")
        return self.read_until(tag)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def status_of(lines: list[bytes]) -> bytes:
    """OK / NO / BAD of the tagged line."""
    return lines[-1].split()[1]
