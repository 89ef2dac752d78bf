"""SASL PLAIN (RFC 4616) and LOGIN exchanges, sans-I/O."""

from __future__ import annotations

import pytest

from roost.smtp import sasl
from roost.smtp.reply import C504_UNKNOWN_MECHANISM


def test_plain_initial_response() -> None:
    """PLAIN with authzid NUL authcid NUL passwd gives Credentials."""
    assert sasl.start("PLAIN", b"admin\0alice\0pw") == sasl.Credentials("admin", "alice", "pw")


@pytest.mark.parametrize("initial", [None, b""])
def test_plain_without_initial_response(initial: bytes | None) -> None:
    """No (or "=") initial response asks with an empty challenge first."""
    step = sasl.start("PLAIN", initial)
    assert isinstance(step, sasl.Challenge)
    assert step.challenge == b""
    assert step.exchange.step(b"\0bob\0pw") == sasl.Credentials("", "bob", "pw")


@pytest.mark.parametrize(
    "data",
    [
        b"alice\0pw",
        b"\0\0pw",
        b"\0alice\0",
        b"a\0b\0c\0d",
        b"\0\xff\0pw",
        b"\0" + b"u" * 256 + b"\0pw",
    ],
)
def test_plain_malformed(data: bytes) -> None:
    """Wrong field count, empty user/password, bad UTF-8 or overlong fields fail with 501."""
    step = sasl.start("PLAIN", data)
    assert isinstance(step, sasl.SaslFailure)
    assert step.reply.code == 501


def test_plain_utf8() -> None:
    """PLAIN fields are UTF-8 (RFC 4616 §2)."""
    creds = sasl.start("PLAIN", "\0jöran\0pässword".encode())
    assert creds == sasl.Credentials("", "jöran", "pässword")


def test_login() -> None:
    """LOGIN prompts Username: then Password:."""
    step = sasl.start("LOGIN", None)
    assert isinstance(step, sasl.Challenge)
    assert step.challenge == b"Username:"
    step = step.exchange.step(b"carol")
    assert isinstance(step, sasl.Challenge)
    assert step.challenge == b"Password:"
    assert step.exchange.step(b"pw") == sasl.Credentials("", "carol", "pw")


def test_login_with_initial_username() -> None:
    """LOGIN with an initial response takes it as the username."""
    step = sasl.start("login", b"carol")
    assert isinstance(step, sasl.Challenge)
    assert step.challenge == b"Password:"


def test_login_empty_fails() -> None:
    """An empty LOGIN username fails."""
    step = sasl.start("LOGIN", None)
    assert isinstance(step, sasl.Challenge)
    assert isinstance(step.exchange.step(b""), sasl.SaslFailure)


def test_unknown_mechanism() -> None:
    """An unknown mechanism fails with 504 5.5.4."""
    assert sasl.start("CRAM-MD5", None) == sasl.SaslFailure(C504_UNKNOWN_MECHANISM)


def test_challenge_reply() -> None:
    """challenge_reply base64-encodes into a 334 without enhanced code."""
    assert sasl.challenge_reply(b"Username:").format() == b"334 VXNlcm5hbWU6\r\n"
    assert sasl.challenge_reply(b"").format() == b"334\r\n"
