"""STARTTLS (RFC 3207): the 220, discarding pipelined plaintext, and the reset afterwards."""

from __future__ import annotations

import pytest

from roost.smtp._state import State
from roost.smtp.errors import LocalProtocolError
from roost.smtp.events import ConnectionClosed, Ehlo, Noop, StartTls
from roost.smtp.reply import C220_TLS_GO, C235_AUTH_OK, C454_TLS_UNAVAILABLE, C503_BAD_SEQUENCE
from tests.smtp.transcript import Transcript


def upgrade(t: Transcript) -> None:
    t.cmd("STARTTLS", event=StartTls(), reply=C220_TLS_GO)
    assert t.conn.state is State.TLS_PENDING
    t.conn.tls_started()


def test_starttls_resets_to_greeting(t: Transcript) -> None:
    """After the upgrade the client must EHLO again (RFC 3207 §4.2)."""
    t.ehlo()
    upgrade(t)
    assert t.conn.tls_active
    assert t.conn.state is State.GREETING_SENT
    t.cmd("MAIL FROM:<a@b.example>", expect=C503_BAD_SEQUENCE.with_text("Send EHLO/HELO first"))


def test_pipelined_commands_after_starttls_are_discarded(t: Transcript) -> None:
    """Plaintext pipelined after STARTTLS is dropped (CVE-2011-0411, RFC 3207 §5)."""
    t.ehlo()
    t.client("STARTTLS\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<a@b.example>\r\n")
    t.expect_event(StartTls())
    t.reply(C220_TLS_GO)
    assert not t.conn.pending_input
    t.client("NOOP\r\n")  # bytes before the handshake completes are dropped too
    t.conn.tls_started()
    t.expect_need_data()
    t.client("EHLO again\r\n")
    t.expect_event(Ehlo("again", True))


def test_refused_starttls_keeps_buffer(t: Transcript) -> None:
    """A 454 to STARTTLS keeps the plaintext session and its pipelined commands."""
    t.ehlo()
    t.client("STARTTLS\r\nNOOP\r\n")
    t.expect_event(StartTls())
    t.reply(C454_TLS_UNAVAILABLE)
    assert t.conn.state is State.READY
    t.expect_event(Noop())


def test_starttls_forgets_authentication(t: Transcript) -> None:
    """The upgrade forgets authentication and any earlier state."""
    t.ehlo()
    t.cmd("AUTH PLAIN AGEAYg==", reply=C235_AUTH_OK)
    assert t.conn.authenticated
    upgrade(t)
    assert not t.conn.authenticated


def test_starttls_before_ehlo(t: Transcript) -> None:
    """STARTTLS is accepted before EHLO."""
    upgrade(t)
    assert t.conn.tls_active


def test_no_events_while_tls_pending(t: Transcript) -> None:
    """Between the 220 and tls_started() the connection only needs data."""
    t.ehlo()
    t.cmd("STARTTLS", reply=C220_TLS_GO)
    t.client("NOOP\r\n")
    t.expect_need_data()


def test_eof_while_tls_pending(t: Transcript) -> None:
    """EOF during the handshake still gives ConnectionClosed."""
    t.cmd("STARTTLS", reply=C220_TLS_GO)
    t.client(b"")
    t.expect_event(ConnectionClosed())


def test_tls_started_without_starttls_is_misuse(t: Transcript) -> None:
    """tls_started() without a 220 to STARTTLS raises LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        t.conn.tls_started()
