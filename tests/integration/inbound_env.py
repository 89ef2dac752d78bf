"""Shared pieces of the inbound-checks tests: the sender domains published in a loopback DNS
server, message builders, and an SMTP client helper that returns every reply instead of
raising."""

from __future__ import annotations

import asyncio
import smtplib
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from roost.auth import dkim_keys
from roost.config import RoostConfig
from tests.dnsserver import DnsTestServer
from tests.integration.harness import RunningServer, prepare_config

AUTHSERV_ID = "mx.roost.test"
HELO = "client.sender.test"
T = TypeVar("T")

# Each sender domain tells one story; 127.0.0.1 is the client of every test.
BASE_ZONES: dict[str, dict[str, list[Any]]] = {
    "pass.test": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
    "fail.test": {"TXT": ["v=spf1 -all"]},  # no DMARC record
    "soft.test": {"TXT": ["v=spf1 ~all"]},
    "reject.test": {"TXT": ["v=spf1 -all"]},
    "_dmarc.reject.test": {"TXT": ["v=DMARC1; p=reject"]},
    "quarantine.test": {"TXT": ["v=spf1 -all"]},
    "_dmarc.quarantine.test": {"TXT": ["v=DMARC1; p=quarantine"]},
    "none.test": {"TXT": ["v=spf1 -all"]},
    "_dmarc.none.test": {"TXT": ["v=DMARC1; p=none"]},
    "signed.test": {"TXT": ["v=spf1 -all"]},
    "_dmarc.signed.test": {"TXT": ["v=DMARC1; p=reject"]},
    "forwarder.test": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
    "lists.test": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
    "untrusted-list.test": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
}


@dataclass
class Keys:
    """Keys generated once per test module (RSA generation is the slow part)."""

    signed_rsa: dkim_keys.PrivateKey
    signed_ed: dkim_keys.PrivateKey
    list_rsa: dkim_keys.PrivateKey

    def zones(self) -> dict[str, dict[str, list[Any]]]:
        zones = {k: {t: list(v) for t, v in r.items()} for k, r in BASE_ZONES.items()}
        records = {
            "rsa._domainkey.signed.test": self.signed_rsa,
            "ed._domainkey.signed.test": self.signed_ed,
            "arc._domainkey.lists.test": self.list_rsa,
            "arc._domainkey.untrusted-list.test": self.list_rsa,
        }
        for name, key in records.items():
            zones[name] = {"TXT": [dkim_keys.dns_record(key.public_key())]}
        return zones


def make_keys() -> Keys:
    return Keys(
        dkim_keys.generate("rsa", 2048),
        dkim_keys.generate("ed25519"),
        dkim_keys.generate("rsa", 2048),
    )


def checks_config(config: RoostConfig, dns: DnsTestServer) -> RoostConfig:
    """Loopback clients judged like strangers: no relay networks, no rate-limit exemption."""
    prepare_config(config)
    config.dns = dns.config()
    config.relay.networks = []
    config.ratelimit.exempt_networks = []
    config.checks.authserv_id = AUTHSERV_ID
    config.checks.trusted_arc_sealers = ["lists.test"]
    return config


def message(
    from_addr: str, subject: str = "checks", body: bytes = b"Hello.\r\n", extra: bytes = b""
) -> bytes:
    return (
        extra
        + f"From: Sender <{from_addr}>\r\nTo: bob@roost.test\r\nSubject: {subject}\r\n".encode()
        + b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
        + f"Message-ID: <{subject.replace(' ', '-')}@{from_addr.rpartition('@')[2]}>\r\n".encode()
        + b"\r\n"
        + body
    )


@dataclass
class Outcome:
    """The reply that ended the attempt: at greeting, MAIL, RCPT or end of data."""

    stage: str
    code: int
    text: str

    @property
    def accepted(self) -> bool:
        return self.stage == "data" and self.code == 250


def send(
    server: RunningServer,
    sender: str,
    data: bytes,
    rcpts: tuple[str, ...] = ("bob@roost.test",),
    helo: str = HELO,
) -> Outcome:
    """One message over a new MX connection, stopping at the first refusal."""
    try:
        client = smtplib.SMTP("127.0.0.1", server.port("mx"), local_hostname=helo, timeout=30)
    except smtplib.SMTPConnectError as exc:
        return Outcome("greeting", exc.smtp_code, exc.smtp_error.decode())
    with client:
        client.ehlo()
        code, text = client.mail(sender)
        if code != 250:
            return Outcome("mail", code, text.decode())
        for rcpt in rcpts:
            code, text = client.rcpt(rcpt)
            if code != 250:
                return Outcome("rcpt", code, text.decode())
        try:
            code, text = client.data(data)
        except smtplib.SMTPDataError as exc:
            return Outcome("data", exc.smtp_code, exc.smtp_error.decode())
        return Outcome("data", code, text.decode())


def stored(server: RunningServer, user: str = "bob@roost.test") -> dict[str, list[bytes]]:
    """The full stored bytes (prefix + blob) of every message in INBOX and Junk."""
    boxes = {m.name for m in server.store.list_mailboxes(user)}
    return {
        box: [server.message_bytes(m) for m in server.inbox(user, box)] if box in boxes else []
        for box in ("INBOX", "Junk")
    }


class LoopThread:
    """An event loop on its own thread, for fake scanners that must exist before the server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextmanager
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    try:
        yield thread
    finally:
        thread.close()
