"""swaks, the administrator's SMTP swiss-army knife, as a real client against Roost."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.integration.harness import ALICE, ALICE_PASSWORD, BOB, RunningServer


def swaks(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("swaks")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("swaks is required in CI (.ci/run installs it)")
        pytest.skip("swaks not installed")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)


def test_swaks_to_mx(server: RunningServer) -> None:
    """Plain swaks to the MX listener delivers into the user's INBOX."""
    result = swaks(
        "--server",
        f"127.0.0.1:{server.port()}",
        "--from",
        "x@sender.example",
        "--to",
        ALICE,
        "--header",
        "Subject: via swaks",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (msg,) = server.inbox(ALICE)
    assert b"Subject: via swaks" in server.message_bytes(msg)


def test_swaks_submission_starttls_auth(server: RunningServer) -> None:
    """swaks with STARTTLS and AUTH PLAIN on the submission listener."""
    result = swaks(
        "--server",
        f"127.0.0.1:{server.port('submission')}",
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        ALICE,
        "--auth-password",
        ALICE_PASSWORD,
        "--from",
        ALICE,
        "--to",
        BOB,
        "--header",
        "Subject: submitted",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (msg,) = server.inbox(BOB)
    assert b"with ESMTPSA" in server.message_bytes(msg)


def test_swaks_submissions_tls_on_connect(server: RunningServer) -> None:
    """swaks --tlsc (implicit TLS) with AUTH LOGIN on the submissions listener."""
    result = swaks(
        "--server",
        f"127.0.0.1:{server.port('submissions')}",
        "--tlsc",
        "--auth",
        "LOGIN",
        "--auth-user",
        ALICE,
        "--auth-password",
        ALICE_PASSWORD,
        "--from",
        ALICE,
        "--to",
        BOB,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.inbox(BOB)) == 1


def test_swaks_pipelining(server: RunningServer) -> None:
    """swaks --pipeline sends the envelope in one batch (RFC 2920); both copies arrive."""
    result = swaks(
        "--server",
        f"127.0.0.1:{server.port()}",
        "--pipeline",
        "--from",
        "x@s.example",
        "--to",
        f"{BOB},{ALICE}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.inbox(BOB)) == 1
    assert len(server.inbox(ALICE)) == 1
