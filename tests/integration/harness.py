"""Runs a real Roost server (in a thread with its own event loop) for socket-level tests."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from roost.accounts.passwords import hash_password
from roost.app import RoostServer
from roost.config import RoostConfig, resolve_path
from roost.store import open_blobs, open_store
from roost.store.interface import BlobStore, Store
from roost.store.types import StoredMessage
from roost.tlsutil import write_self_signed

DOMAIN = "roost.test"
ALICE = "alice@roost.test"
ALICE_PASSWORD = "alice-secret-pw"
BOB = "bob@roost.test"
BOB_PASSWORD = "bob-secret-pw"


def prepare_config(config: RoostConfig) -> RoostConfig:
    """Loopback listeners on ephemeral ports, a TLS pair, no tarpit delays."""
    config.listeners.mx.address = "127.0.0.1:0"
    config.listeners.submission.address = "127.0.0.1:0"
    config.listeners.submissions.address = "127.0.0.1:0"
    config.listeners.pop3.address = "127.0.0.1:0"
    config.listeners.pop3s.address = "127.0.0.1:0"
    config.listeners.imap.address = "127.0.0.1:0"
    config.listeners.imaps.address = "127.0.0.1:0"
    config.limits.error_delay = 0.0
    config.delivery.enabled = False  # receiving tests inspect the queue; delivery tests opt in
    write_self_signed(
        resolve_path(config, config.tls.cert), resolve_path(config, config.tls.key), "localhost"
    )
    return config


def seed_directory(store: Store) -> None:
    store.add_domain(DOMAIN)
    store.add_domain("other.test")
    store.add_user(ALICE, hash_password(ALICE_PASSWORD))
    store.add_user(BOB, hash_password(BOB_PASSWORD))
    store.add_alias("team@roost.test", [ALICE, BOB])
    store.add_alias("postmaster@roost.test", [ALICE])
    store.add_alias("forward@roost.test", ["someone@remote.example"])
    store.add_alias("@other.test", [BOB])


@dataclass
class RunningServer:
    config: RoostConfig
    server: RoostServer
    store: Store
    blobs: BlobStore
    loop: asyncio.AbstractEventLoop

    def port(self, listener: str = "mx") -> int:
        return self.server.ports[listener]

    def smtp(self, listener: str = "mx") -> smtplib.SMTP:
        if listener == "submissions":
            return smtplib.SMTP_SSL(
                "127.0.0.1", self.port(listener), context=client_tls(), timeout=30
            )
        return smtplib.SMTP("127.0.0.1", self.port(listener), timeout=30)

    def submission(self, user: str = ALICE, password: str = ALICE_PASSWORD) -> smtplib.SMTP:
        client = self.smtp("submission")
        client.starttls(context=client_tls())
        client.login(user, password)
        return client

    def reload_directory(self) -> None:
        """Make the running server see directory changes now rather than at its next poll."""
        asyncio.run_coroutine_threadsafe(self.server.reload_directory(), self.loop).result(30)

    def inbox(self, user: str, mailbox: str = "INBOX") -> list[StoredMessage]:
        return self.store.list_messages(user, mailbox)

    def message_bytes(self, msg: StoredMessage) -> bytes:
        return msg.prefix + self.blobs.get(msg.blob)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop production uses: uvloop when installed (roost.app.serve), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def client_tls() -> ssl.SSLContext:
    """Tests talk to a self-signed loopback certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@contextmanager
def running_server(config: RoostConfig) -> Iterator[RunningServer]:
    store = open_store(config)
    if not store.list_domains():
        seed_directory(store)
    blobs = open_blobs(config, store)
    loop = new_event_loop()
    server = RoostServer(config)
    started = threading.Event()
    failure: list[BaseException] = []

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=main, name="roost-test-server", daemon=True)
    thread.start()
    assert started.wait(30), "server did not start"
    if failure:
        raise failure[0]
    try:
        yield RunningServer(config, server, store, blobs, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        store.close()


def data_dir(config: RoostConfig) -> Path:
    return Path(config.server.data_dir)
