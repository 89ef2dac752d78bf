"""SASL server exchanges for SMTP AUTH (RFC 4954): PLAIN (RFC 4616) and LOGIN.

Sans-I/O: `start()` returns the first step; a `Challenge` carries the exchange to continue with
the client's next (base64-decoded) response. Checking the password is the session's job.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Protocol

from roost.smtp.reply import C501_SYNTAX, C504_UNKNOWN_MECHANISM, Reply

MECHANISMS: tuple[str, ...] = ("PLAIN", "LOGIN")
# RFC 4616 §2: authzid, authcid and passwd are each at most 255 octets.
_MAX_FIELD = 255
C501_MALFORMED = C501_SYNTAX.with_text("Malformed SASL response")


class Exchange(Protocol):
    """A SASL exchange in progress, waiting for the client's next response."""

    def step(self, data: bytes) -> Step: ...


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send `challenge` in a 334 (base64) and feed the reply to `exchange.step`."""

    exchange: Exchange
    challenge: bytes


@dataclass(frozen=True, slots=True)
class Credentials:
    """The client's claimed identity; the session verifies it and answers 235 or 535."""

    authzid: str  # "" when the client asks to act as itself
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class SaslFailure:
    reply: Reply


Step = Challenge | Credentials | SaslFailure


def start(mechanism: str, initial_response: bytes | None) -> Step:
    """Begin `mechanism` (upper-cased by the parser); unknown ones fail with 504 5.5.4."""
    mech = mechanism.upper()
    if mech == "PLAIN":
        return _Plain().begin(initial_response)
    if mech == "LOGIN":
        return _Login().begin(initial_response)
    return SaslFailure(C504_UNKNOWN_MECHANISM)


def _text(raw: bytes) -> str | None:
    """UTF-8 field (RFC 4616 §2), or None when invalid, too long or holding a NUL."""
    if len(raw) > _MAX_FIELD or b"\0" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


class _Plain:
    """RFC 4616 §2: message = [authzid] NUL authcid NUL passwd, in a single response."""

    def begin(self, initial_response: bytes | None) -> Step:
        # RFC 4954 §4: no (or an empty "=") initial response: ask with an empty challenge.
        if not initial_response:
            return Challenge(self, b"")
        return self.step(initial_response)

    def step(self, data: bytes) -> Step:
        parts = data.split(b"\0")
        if len(parts) != 3:
            return SaslFailure(C501_MALFORMED)
        authzid, username, password = (_text(p) for p in parts)
        if authzid is None or not username or not password:
            return SaslFailure(C501_MALFORMED)
        return Credentials(authzid, username, password)


class _Login:
    """The (obsolete but ubiquitous) LOGIN mechanism: "Username:" then "Password:" prompts."""

    def __init__(self) -> None:
        self._username: str | None = None

    def begin(self, initial_response: bytes | None) -> Step:
        if not initial_response:
            return Challenge(self, b"Username:")
        return self.step(initial_response)

    def step(self, data: bytes) -> Step:
        value = _text(data)
        if not value:
            return SaslFailure(C501_MALFORMED)
        if self._username is None:
            self._username = value
            return Challenge(self, b"Password:")
        return Credentials("", self._username, value)


def challenge_reply(challenge: bytes) -> Reply:
    """The 334 reply carrying `challenge` base64-encoded (RFC 4954 §4)."""
    return Reply(334, "", base64.b64encode(challenge).decode("ascii"))
