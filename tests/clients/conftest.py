"""Fixtures for real mail clients (fetchmail, getmail6, mbsync, offlineimap, imapclient) against a
real Roost: the server, the trusted certificate, SMTP delivery of test messages, and a runner that
bounds every client run with a timeout and keeps its output for the assertion message."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest

from roost.config import RoostConfig, resolve_path
from tests.integration.harness import RunningServer, prepare_config, running_server

CLIENT_TIMEOUT = 90  # seconds any one client run may take

# Only SQLite: `@sqlite_only` on a test restricts the `backend` fixture (tests/conftest.py).
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
def server(roost_config: RoostConfig) -> Iterator[RunningServer]:
    with running_server(prepare_config(roost_config)) as running:
        yield running


@pytest.fixture
def cert_file(server: RunningServer) -> Path:
    """The server's self-signed certificate; clients are told to trust exactly this file."""
    return resolve_path(server.config, server.config.tls.cert)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A private HOME for a client, so no user configuration or state leaks in or out."""
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


def require(program: str) -> str:
    """The program's path; in CI a missing client is a failure (.ci/run installs them)."""
    exe = shutil.which(program)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is required in CI (.ci/run installs it)")
        pytest.skip(f"{program} not installed")
    return exe


def run(
    argv: list[str], home: Path, ok_codes: tuple[int, ...] = (0,), **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a client with HOME set to `home`, a timeout, and its output in the failure message."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
    }
    environment.update(env)
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
        env=environment,
        cwd=home,
    )
    assert result.returncode in ok_codes, (
        f"{argv[0]} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n"
        f"{result.stderr}"
    )
    return result


@dataclass(frozen=True)
class Sent:
    """A message delivered by SMTP, as the test knows it."""

    message_id: str
    subject: str
    body: bytes  # CRLF line endings, as sent


def deliver(server: RunningServer, to: str, subject: str, body: bytes | None = None) -> Sent:
    """Send one message through the MX listener; the body has a dot line and 8-bit-free text."""
    message_id = f"<{uuid.uuid4().hex}@sender.example>"
    if body is None:
        body = f"Body of {subject}.\r\n.dot line\r\n\r\nlast line {uuid.uuid4().hex}\r\n".encode()
    data = (
        f"From: someone@sender.example\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Sun, 22 Nov 2026 12:00:00 +0000\r\n\r\n"
    ).encode() + body
    with server.smtp() as client:
        client.ehlo("sender.example")
        client.sendmail("someone@sender.example", [to], data)
    return Sent(message_id, subject, body)


def split(raw: bytes) -> tuple[str, str, bytes]:
    """(Message-ID, Subject, body with LF line endings) of a message a client wrote out."""
    text = raw.replace(b"\r\n", b"\n")
    head, _, body = text.partition(b"\n\n")
    msg = message_from_bytes(head + b"\n\n", policy=default_policy)
    return str(msg["Message-ID"]), str(msg["Subject"]), body


def assert_same(received: list[bytes], sent: list[Sent]) -> None:
    """Each sent message arrived exactly once with its body intact (line endings aside)."""
    got = {}
    for raw in received:
        message_id, subject, body = split(raw)
        assert message_id not in got, f"{message_id} arrived twice"
        got[message_id] = (subject, body)
    assert set(got) == {s.message_id for s in sent}
    for s in sent:
        assert got[s.message_id] == (s.subject, s.body.replace(b"\r\n", b"\n"))


def maildir_messages(maildir: Path) -> list[bytes]:
    return [p.read_bytes() for sub in ("new", "cur") for p in sorted((maildir / sub).glob("*"))]


PYTHON = sys.executable
