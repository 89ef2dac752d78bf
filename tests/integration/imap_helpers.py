"""imaplib clients for the socket-level IMAP tests."""

from __future__ import annotations

import imaplib
import smtplib
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
