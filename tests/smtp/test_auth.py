"""AUTH (RFC 4954) on the connection: 334 exchanges, "*" cancel, bad base64, 235."""

from __future__ import annotations

import base64

import pytest

from roost.smtp import sasl
from roost.smtp._state import State
from roost.smtp.events import Auth, AuthResponse, CommandError, Noop
from roost.smtp.reply import (
    C235_AUTH_OK,
    C501_AUTH_CANCELLED,
    C501_BAD_BASE64,
    C501_SYNTAX,
    C535_AUTH_FAILED,
)
from tests.smtp.transcript import Transcript


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def ready(t: Transcript) -> Transcript:
    t.ehlo()
    return t


def test_plain_with_initial_response(ready: Transcript) -> None:
    """AUTH PLAIN with an initial response, then 235, sets authenticated."""
    creds = b"\0alice\0secret"
    ev = ready.cmd(f"AUTH PLAIN {b64(creds)}", event=Auth("PLAIN", creds), reply=C235_AUTH_OK)
    step = sasl.start(ev.mechanism, ev.initial_response)  # type: ignore[union-attr]
    assert step == sasl.Credentials("", "alice", "secret")
    assert ready.conn.authenticated
    assert ready.conn.state is State.READY


def test_plain_after_empty_challenge(ready: Transcript) -> None:
    """AUTH PLAIN without a response: empty 334, then the response line."""
    ready.cmd("AUTH plain", event=Auth("PLAIN", None), reply=sasl.challenge_reply(b""))
    assert ready.out.endswith(b"334 \r\n") or ready.out.endswith(b"334\r\n")
    assert ready.conn.state is State.AUTH
    ready.cmd(b64(b"\0bob\0pw"), event=AuthResponse(b"\0bob\0pw"), reply=C235_AUTH_OK)
    assert ready.conn.authenticated


def test_equals_is_empty_initial_response(ready: Transcript) -> None:
    """ "=" as initial response is b"" (RFC 4954 §4)."""
    ready.cmd("AUTH PLAIN =", event=Auth("PLAIN", b""), reply=sasl.challenge_reply(b""))


def test_login_exchange(ready: Transcript) -> None:
    """AUTH LOGIN: two 334 prompts, then 235."""
    ready.cmd("AUTH LOGIN", event=Auth("LOGIN", None), reply=sasl.challenge_reply(b"Username:"))
    assert ready.out.endswith(b"334 VXNlcm5hbWU6\r\n")
    ready.cmd(b64(b"carol"), event=AuthResponse(b"carol"), reply=sasl.challenge_reply(b"Password:"))
    assert ready.out.endswith(b"334 UGFzc3dvcmQ6\r\n")
    ready.cmd(b64(b"pw"), event=AuthResponse(b"pw"), reply=C235_AUTH_OK)
    assert ready.conn.authenticated


def test_cancel(ready: Transcript) -> None:
    """ "*" cancels: AuthResponse(cancelled=True), then 501 ends the exchange."""
    ready.cmd("AUTH LOGIN", reply=sasl.challenge_reply(b"Username:"))
    ready.cmd("*", event=AuthResponse(b"", cancelled=True), reply=C501_AUTH_CANCELLED)
    assert ready.conn.state is State.READY
    assert not ready.conn.authenticated


def test_bad_base64_response_ends_exchange(ready: Transcript) -> None:
    """Invalid base64 in the exchange is 501 5.5.2 and returns to READY (RFC 4954 §4)."""
    ready.cmd("AUTH LOGIN", reply=sasl.challenge_reply(b"Username:"))
    ready.cmd("not base64!", expect=C501_BAD_BASE64)
    assert ready.conn.state is State.READY
    ready.cmd("NOOP", event=Noop())


def test_bad_base64_initial_response(ready: Transcript) -> None:
    """Invalid base64 as initial response is 501 5.5.2."""
    ready.cmd("AUTH PLAIN abc", expect=C501_BAD_BASE64)
    assert ready.conn.state is State.READY


def test_failed_auth(ready: Transcript) -> None:
    """535 after the response: READY, not authenticated, AUTH may be retried."""
    ready.cmd("AUTH PLAIN", reply=sasl.challenge_reply(b""))
    ready.cmd(b64(b"\0a\0b"), reply=C535_AUTH_FAILED)
    assert ready.conn.state is State.READY
    assert not ready.conn.authenticated
    ready.cmd("AUTH PLAIN", event=Auth("PLAIN", None), reply=C535_AUTH_FAILED)


def test_auth_lines_are_not_commands(ready: Transcript) -> None:
    """During the exchange a line like "QUIT" is a (bad base64) response, not a command."""
    ready.cmd("AUTH LOGIN", reply=sasl.challenge_reply(b"Username:"))
    ready.client("QUIT\r\n")
    ev = ready.event()
    assert ev == AuthResponse(base64.b64decode("QUIT"))  # "QUIT" happens to be valid base64


def test_empty_response_line(ready: Transcript) -> None:
    """An empty line in the exchange is an empty response."""
    ready.cmd("AUTH PLAIN", reply=sasl.challenge_reply(b""))
    ready.cmd("", event=AuthResponse(b""), reply=C535_AUTH_FAILED)


@pytest.mark.parametrize("line", ["AUTH", "AUTH PLAIN a b", "AUTH PL@IN"])
def test_auth_syntax(ready: Transcript, line: str) -> None:
    """Malformed AUTH is 501 5.5.4."""
    ready.client(line + "\r\n")
    ev = ready.event()
    assert isinstance(ev, CommandError)
    assert ev.reply == C501_SYNTAX.with_text("Syntax: AUTH <mechanism> [initial-response]")


def test_long_auth_line_within_limit(ready: Transcript) -> None:
    """AUTH lines up to 12288 octets are accepted (RFC 4954 §4)."""
    creds = b"\0" + b"u" * 200 + b"\0" + b"p" * 200
    ready.cmd(f"AUTH PLAIN {b64(creds)}", event=Auth("PLAIN", creds), reply=C535_AUTH_FAILED)
