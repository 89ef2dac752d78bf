"""Per-command behaviour of the sans-I/O server (RFC 5321 §4.1.1)."""

from __future__ import annotations

import pytest

from roost.smtp._state import State
from roost.smtp.events import (
    NEED_DATA,
    ConnectionClosed,
    Data,
    Ehlo,
    Expn,
    Help,
    MailFrom,
    Noop,
    Quit,
    RcptTo,
    Rset,
    Vrfy,
)
from roost.smtp.reply import (
    C214_HELP,
    C221_BYE,
    C250_HELO,
    C250_OK,
    C252_VRFY,
    C421_SHUTTING_DOWN,
    C451_LOCAL_ERROR,
    C500_UNRECOGNIZED,
    C501_SYNTAX,
    C502_NOT_IMPLEMENTED,
    C503_BAD_SEQUENCE,
    C550_NO_SUCH_USER,
    C550_RELAY_DENIED,
)
from roost.smtp.server import ServerConnection
from tests.smtp.transcript import Transcript


def test_greeting_then_ehlo_moves_to_ready(t: Transcript) -> None:
    """A 250 to EHLO moves the connection from GREETING_SENT to READY."""
    assert t.conn.state is State.GREETING_SENT
    t.cmd("EHLO client.test", event=Ehlo("client.test", True))
    assert t.conn.state is State.READY


def test_helo_is_not_extended(t: Transcript) -> None:
    """HELO produces an Ehlo event with extended=False."""
    t.cmd("HELO client.test", event=Ehlo("client.test", False), reply=C250_HELO)
    assert t.conn.state is State.READY


def test_ehlo_refused_keeps_state(t: Transcript) -> None:
    """A 5xx to EHLO leaves the connection waiting for EHLO/HELO."""
    t.cmd("EHLO client.test", reply=C550_RELAY_DENIED)
    assert t.conn.state is State.GREETING_SENT


def test_ehlo_address_literal(t: Transcript) -> None:
    """EHLO accepts an address literal as given."""
    t.cmd("EHLO [192.0.2.1]", event=Ehlo("[192.0.2.1]", True))


@pytest.mark.parametrize("line", ["EHLO", "HELO", "EHLO a b", "EHLO "])
def test_ehlo_needs_one_argument(t: Transcript, line: str) -> None:
    """EHLO/HELO without exactly one argument is a 501 syntax error."""
    ev = t.cmd(line, expect=C501_SYNTAX.with_text(f"Syntax: {line.split()[0]} <domain>"))
    assert t.conn.state is State.GREETING_SENT
    assert ev.line == line.encode()  # type: ignore[union-attr]


def test_commands_are_case_insensitive(t: Transcript) -> None:
    """Verbs and the FROM:/TO: keywords match case-insensitively (RFC 5321 §2.4)."""
    t.cmd("ehLo client.test", event=Ehlo("client.test", True))
    t.cmd("mail from:<a@b.example>", event=MailFrom("a@b.example", {}))
    t.cmd("rcpt To:<c@d.example>", event=RcptTo("c@d.example", {}))
    t.cmd("data", event=Data(), reply=C250_OK.__class__(354, "", "go"))


def test_full_transaction(t: Transcript) -> None:
    """EHLO, MAIL, RCPT, DATA and the end of data run through every state back to READY."""
    t.ehlo()
    t.cmd("MAIL FROM:<a@b.example>", event=MailFrom("a@b.example", {}))
    assert t.conn.state is State.MAIL
    assert t.conn.in_transaction
    t.cmd("RCPT TO:<c@d.example>", event=RcptTo("c@d.example", {}))
    assert t.conn.state is State.RCPT
    data, _end = t.data("Subject: x\r\n\r\nhello\r\n.\r\n")
    assert data == b"Subject: x\r\n\r\nhello\r\n"
    assert t.conn.state is State.DATA
    t.reply(C250_OK)
    assert t.conn.state is State.READY
    assert not t.conn.in_transaction


def test_mail_refused_stays_ready(t: Transcript) -> None:
    """A 5xx to MAIL opens no transaction."""
    t.ehlo()
    t.cmd("MAIL FROM:<a@b.example>", reply=C550_RELAY_DENIED)
    assert t.conn.state is State.READY
    assert not t.conn.in_transaction


def test_rcpt_refused_keeps_mail_state(t: Transcript) -> None:
    """A refused RCPT leaves a transaction with no recipient in MAIL state."""
    t.ehlo()
    t.mail()
    t.cmd("RCPT TO:<x@y.example>", reply=C550_NO_SUCH_USER)
    assert t.conn.state is State.MAIL


def test_second_rcpt_accepted_after_refused_one(t: Transcript) -> None:
    """A refused RCPT after an accepted one keeps RCPT state."""
    t.transaction()
    t.cmd("RCPT TO:<x@y.example>", reply=C550_NO_SUCH_USER)
    assert t.conn.state is State.RCPT


def test_null_reverse_path(t: Transcript) -> None:
    """MAIL FROM:<> gives the empty reverse path."""
    t.ehlo()
    t.cmd("MAIL FROM:<>", event=MailFrom("", {}))


def test_space_after_colon_is_tolerated(t: Transcript) -> None:
    """One space after "FROM:" / "TO:" is accepted, as common clients send it."""
    t.ehlo()
    t.cmd("MAIL FROM: <a@b.example>", event=MailFrom("a@b.example", {}))
    t.cmd("RCPT TO: <c@d.example>", event=RcptTo("c@d.example", {}))


def test_postmaster_without_domain(t: Transcript) -> None:
    """RCPT TO:<Postmaster> is accepted without a domain (RFC 5321 §4.1.1.3)."""
    t.ehlo()
    t.mail()
    t.cmd("RCPT TO:<Postmaster>", event=RcptTo("postmaster", {}))


def test_source_route_ignored(t: Transcript) -> None:
    """A source route is accepted and dropped (RFC 5321 §4.1.1.3, Appendix C)."""
    t.ehlo()
    t.mail()
    t.cmd("RCPT TO:<@relay.example,@r2.example:c@d.example>", event=RcptTo("c@d.example", {}))


def test_rset_ends_transaction(t: Transcript) -> None:
    """A 250 to RSET forgets the transaction and returns to READY."""
    t.transaction()
    t.cmd("RSET", event=Rset())
    assert t.conn.state is State.READY
    assert not t.conn.in_transaction


def test_rset_before_ehlo_keeps_greeting_state(t: Transcript) -> None:
    """RSET before EHLO is legal and still requires EHLO afterwards."""
    t.cmd("RSET", event=Rset())
    assert t.conn.state is State.GREETING_SENT


def test_ehlo_resets_transaction(t: Transcript) -> None:
    """A 250 to EHLO mid-transaction resets it (RFC 5321 §4.1.4)."""
    t.transaction()
    t.ehlo()
    assert t.conn.state is State.READY
    assert not t.conn.in_transaction


@pytest.mark.parametrize(
    ("line", "event"),
    [
        ("NOOP", Noop()),
        ("NOOP ignored argument", Noop()),
        ("HELP", Help("")),
        ("HELP MAIL", Help("MAIL")),
        ("VRFY user", Vrfy("user")),
        ("EXPN list", Expn("list")),
    ],
)
def test_any_time_commands(t: Transcript, line: str, event: object) -> None:
    """NOOP, HELP, VRFY and EXPN are legal before EHLO and change no state."""
    t.cmd(line, event=event, reply=C250_OK)  # type: ignore[arg-type]
    assert t.conn.state is State.GREETING_SENT


def test_any_time_commands_in_transaction(t: Transcript) -> None:
    """NOOP, HELP, VRFY and EXPN inside a transaction keep it."""
    t.transaction()
    t.cmd("NOOP", event=Noop())
    t.cmd("HELP", event=Help(""), reply=C214_HELP)
    t.cmd("VRFY x", event=Vrfy("x"), reply=C252_VRFY)
    t.cmd("EXPN x", event=Expn("x"), reply=C502_NOT_IMPLEMENTED)
    assert t.conn.state is State.RCPT


@pytest.mark.parametrize("line", ["VRFY", "EXPN"])
def test_vrfy_expn_need_argument(t: Transcript, line: str) -> None:
    """VRFY and EXPN without an argument are syntax errors."""
    t.cmd(line, expect=C501_SYNTAX.with_text(f"Syntax: {line} <string>"))


@pytest.mark.parametrize("line", ["RSET x", "QUIT now", "STARTTLS x"])
def test_argumentless_commands_reject_arguments(t: Transcript, line: str) -> None:
    """RSET, QUIT and STARTTLS take no argument (501)."""
    verb = line.split()[0]
    t.cmd(line, expect=C501_SYNTAX.with_text(f"{verb} takes no arguments"))


def test_data_rejects_arguments(t: Transcript) -> None:
    """DATA with an argument is a 501 once the sequence is right."""
    t.transaction()
    t.cmd("DATA now", expect=C501_SYNTAX.with_text("DATA takes no arguments"))
    assert t.conn.state is State.RCPT


def test_sequence_is_checked_before_syntax(t: Transcript) -> None:
    """An out-of-sequence command with bad arguments gets 503, not 501."""
    t.cmd("DATA now", expect=C503_BAD_SEQUENCE)


def test_trailing_space_tolerated(t: Transcript) -> None:
    """Trailing spaces after a command are ignored."""
    t.cmd("QUIT  ", event=Quit(), reply=C221_BYE)


def test_quit_closes(t: Transcript) -> None:
    """221 to QUIT closes: wants_close, state CLOSED, then ConnectionClosed."""
    t.cmd("QUIT", event=Quit(), reply=C221_BYE)
    assert t.conn.wants_close
    assert t.conn.state is State.CLOSED
    assert t.out.endswith(b"221 2.0.0 Bye\r\n")
    t.expect_event(ConnectionClosed())


def test_input_after_quit_ignored(t: Transcript) -> None:
    """Pipelined commands after QUIT are never processed."""
    t.client("QUIT\r\nMAIL FROM:<a@b.example>\r\n")
    t.expect_event(Quit())
    t.reply(C221_BYE)
    t.expect_event(ConnectionClosed())
    t.client("NOOP\r\n")
    t.expect_event(ConnectionClosed())


def test_unknown_verb(t: Transcript) -> None:
    """Unknown verbs are 500 5.5.2 Command unrecognized."""
    t.cmd("FROB x", expect=C500_UNRECOGNIZED)
    t.cmd("", expect=C500_UNRECOGNIZED)


def test_421_closes_from_any_state(t: Transcript) -> None:
    """A 421 answer to any command closes the connection (RFC 5321 §3.8)."""
    t.transaction()
    t.client("NOOP\r\n")
    t.event()
    t.reply(C421_SHUTTING_DOWN)
    assert t.conn.wants_close
    assert t.conn.state is State.CLOSED


def test_unsolicited_421(t: Transcript) -> None:
    """A 421 may be sent with no event pending (timeout, shutdown) and closes."""
    t.ehlo()
    out = t.reply(C421_SHUTTING_DOWN)
    assert out.startswith(b"421 4.3.2")
    assert t.conn.wants_close


def test_greeting_421_closes() -> None:
    """A 421 greeting (refusing the connection) closes immediately."""
    conn = ServerConnection()
    conn.send(C421_SHUTTING_DOWN)
    assert conn.wants_close


def test_eof_gives_connection_closed(t: Transcript) -> None:
    """EOF turns into ConnectionClosed and the CLOSED state."""
    t.ehlo()
    t.client(b"")
    t.expect_event(ConnectionClosed())
    assert t.conn.state is State.CLOSED


def test_eof_after_pipelined_commands_processes_them_first(t: Transcript) -> None:
    """Complete commands received before EOF are still delivered, then ConnectionClosed."""
    t.client("NOOP\r\nQUIT\r\n")
    t.client(b"")
    t.expect_event(Noop())
    t.reply(C250_OK)
    t.expect_event(Quit())
    t.reply(C221_BYE)
    t.expect_event(ConnectionClosed())


def test_eof_mid_data(t: Transcript) -> None:
    """EOF inside DATA delivers what arrived, then ConnectionClosed (no DataEnd)."""
    t.transaction()
    t.start_data()
    t.client("partial line\r\nmore")
    t.client(b"")
    data, ev = t.collect()
    assert ev == ConnectionClosed()
    assert data == b"partial line\r\nmore"


def test_need_data_until_crlf(t: Transcript) -> None:
    """A command without its CRLF yet yields NEED_DATA."""
    t.client("NOOP")
    t.expect_need_data()
    t.client("\r")
    t.expect_need_data()
    t.client("\n")
    t.expect_event(Noop())


def test_pending_input_reports_pipelined_commands(t: Transcript) -> None:
    """pending_input is True while more pipelined bytes are buffered."""
    t.client("NOOP\r\nNOOP\r\n")
    t.expect_event(Noop())
    assert t.conn.pending_input
    t.reply(C250_OK)
    t.expect_event(Noop())
    assert not t.conn.pending_input


def test_transient_reply_to_data_end_still_ends_transaction(t: Transcript) -> None:
    """Any reply to the end of data, even 451, ends the transaction (RFC 5321 §4.1.1.4)."""
    t.transaction()
    t.data("x\r\n.\r\n")
    t.reply(C451_LOCAL_ERROR)
    assert t.conn.state is State.READY


def test_need_data_is_the_sentinel(t: Transcript) -> None:
    """next_event returns the NEED_DATA singleton when idle."""
    assert t.next() is NEED_DATA
