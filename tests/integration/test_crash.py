"""SIGKILL at random moments under concurrent senders: no message that got 250 is ever lost."""

from __future__ import annotations

import random
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
import tomlkit

from roost.config import RoostConfig
from roost.store import open_blobs, open_store
from tests.integration.harness import ALICE, prepare_config, seed_directory

SENDERS = 4
KILLS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(config: RoostConfig, path: Path) -> None:
    path.write_text(tomlkit.dumps(config.model_dump(mode="json")), encoding="utf-8")


def start_server(config_path: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "roost", "--config", str(config_path), "serve"],
            stdout=out,
            stderr=out,
        )


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):  # bounded: 30 s
        assert proc.poll() is None, "server exited during start"
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                if client.noop()[0] == 250:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not become ready")


class Sender(threading.Thread):
    """Sends numbered messages in a loop, remembering those the server acknowledged with 250."""

    def __init__(self, index: int, port: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.index, self.port, self.stop = index, port, stop
        self.acked: set[str] = set()
        self.sent = 0

    def run(self) -> None:
        n = 0
        while not self.stop.is_set() and n < 100_000:
            n += 1
            token = f"crash-{self.index}-{n}"
            rcpt = ALICE if n % 2 else f"{token}@remote.example"  # local delivery and the queue
            body = f"Subject: {token}\r\nFrom: s@x.example\r\n\r\nbody {token}\r\n".encode()
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
                    client.sendmail("s@x.example", [rcpt], body)
                self.acked.add(token)
            except (OSError, smtplib.SMTPException):
                time.sleep(0.02)  # server down or killed mid-transaction: not acked, try again
            self.sent += 1


def stored_tokens(config: RoostConfig) -> set[str]:
    store = open_store(config)
    blobs = open_blobs(config, store)
    parser = BytesHeaderParser()
    tokens = set()
    try:
        for msg in store.list_messages(ALICE, "INBOX"):
            tokens.add(str(parser.parsebytes(msg.prefix + blobs.get(msg.blob))["Subject"]))
        for entry in store.list_queue():
            tokens.add(str(parser.parsebytes(entry.prefix + blobs.get(entry.blob))["Subject"]))
    finally:
        store.close()
    return tokens


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_message(roost_config: RoostConfig, tmp_path: Path) -> None:
    """Concurrent senders, SIGKILL of the server process at random moments, restart: zero lost."""
    config = prepare_config(roost_config)
    port = free_port()
    config.listeners.mx.address = f"127.0.0.1:{port}"
    config.listeners.submission.enabled = False
    config.listeners.submissions.enabled = False
    store = open_store(config)
    seed_directory(store)
    store.close()
    config_path = tmp_path / "roost.toml"
    write_config(config, config_path)
    log = tmp_path / "server.log"
    rng = random.Random(2026)
    stop = threading.Event()
    proc = start_server(config_path, log)
    wait_ready(port, proc)
    senders = [Sender(i, port, stop) for i in range(SENDERS)]
    for sender in senders:
        sender.start()
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc = start_server(config_path, log)
            wait_ready(port, proc)
        time.sleep(0.5)
    finally:
        stop.set()
        for sender in senders:
            sender.join(30)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    acked = set().union(*(s.acked for s in senders))
    assert len(acked) > 50, f"too few messages acknowledged to mean anything: {len(acked)}"
    lost = acked - stored_tokens(config)
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged messages lost: {sorted(lost)[:10]}"
