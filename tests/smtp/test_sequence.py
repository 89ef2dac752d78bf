"""Out-of-sequence and malformed commands become CommandError events, without state change."""

from __future__ import annotations

import pytest

from roost.smtp._state import State
from roost.smtp.events import Auth, CommandError, StartTls
from roost.smtp.reply import (
    C220_TLS_GO,
    C235_AUTH_OK,
    C500_BAD_OCTETS,
    C500_BDAT_DISABLED,
    C500_UNRECOGNIZED,
    C501_BAD_RECIPIENT,
    C501_BAD_SENDER,
    C501_SYNTAX,
    C503_ALREADY_AUTHENTICATED,
    C503_BAD_SEQUENCE,
    C503_NO_RECIPIENTS,
    C503_TLS_ACTIVE,
    C553_UTF8_REQUIRED,
    C555_UNKNOWN_PARAM,
)
from roost.smtp.server import ServerOptions
from tests.smtp.transcript import Transcript

SEND_EHLO_FIRST = C503_BAD_SEQUENCE.with_text("Send EHLO/HELO first")
NESTED_MAIL = C503_BAD_SEQUENCE.with_text("Nested MAIL command")
AUTH_IN_TXN = C503_BAD_SEQUENCE.with_text("AUTH not allowed in a transaction")


def test_mail_before_ehlo(t: Transcript) -> None:
    """MAIL before EHLO/HELO is 503 5.5.1."""
    t.cmd("MAIL FROM:<a@b.example>", expect=SEND_EHLO_FIRST)
    assert t.conn.state is State.GREETING_SENT


def test_nested_mail(t: Transcript) -> None:
    """A second MAIL inside a transaction is 503 5.5.1 and keeps the transaction."""
    t.transaction()
    t.cmd("MAIL FROM:<a@b.example>", expect=NESTED_MAIL)
    assert t.conn.state is State.RCPT


def test_nested_mail_without_rcpt(t: Transcript) -> None:
    """A second MAIL before any RCPT is also 503."""
    t.ehlo()
    t.mail()
    t.cmd("MAIL FROM:<a@b.example>", expect=NESTED_MAIL)
    assert t.conn.state is State.MAIL


def test_rcpt_before_mail(t: Transcript) -> None:
    """RCPT before MAIL is 503 5.5.1."""
    t.ehlo()
    t.cmd("RCPT TO:<a@b.example>", expect=C503_BAD_SEQUENCE)
    assert t.conn.state is State.READY


def test_rcpt_before_ehlo(t: Transcript) -> None:
    """RCPT before EHLO is 503 5.5.1."""
    t.cmd("RCPT TO:<a@b.example>", expect=C503_BAD_SEQUENCE)


def test_data_before_mail(t: Transcript) -> None:
    """DATA with no transaction is 503 5.5.1."""
    t.ehlo()
    t.cmd("DATA", expect=C503_BAD_SEQUENCE)


def test_data_without_valid_recipient(t: Transcript) -> None:
    """DATA after MAIL but no accepted RCPT is 503 5.5.1 "No valid recipients"."""
    t.ehlo()
    t.mail()
    t.cmd("DATA", expect=C503_NO_RECIPIENTS)
    assert t.conn.state is State.MAIL


def test_auth_before_ehlo(t: Transcript) -> None:
    """AUTH before EHLO is 503 (RFC 4954 §4)."""
    t.cmd("AUTH PLAIN", expect=C503_BAD_SEQUENCE.with_text("Send EHLO first"))


def test_auth_when_authenticated(t: Transcript) -> None:
    """A second AUTH after a 235 is 503 5.5.1 (RFC 4954 §4)."""
    t.ehlo()
    t.cmd("AUTH PLAIN AGEAYg==", event=Auth("PLAIN", b"\0a\0b"), reply=C235_AUTH_OK)
    assert t.conn.authenticated
    t.cmd("AUTH PLAIN AGEAYg==", expect=C503_ALREADY_AUTHENTICATED)


def test_auth_inside_transaction(t: Transcript) -> None:
    """AUTH during a mail transaction is 503 5.5.1."""
    t.ehlo()
    t.mail()
    t.cmd("AUTH PLAIN", expect=AUTH_IN_TXN)
    t.rcpt()
    t.cmd("AUTH PLAIN", expect=AUTH_IN_TXN)


def test_starttls_when_tls_active() -> None:
    """STARTTLS on an implicit-TLS connection is 503 5.5.1."""
    t = Transcript(ServerOptions(tls_active=True))
    t.ehlo()
    t.cmd("STARTTLS", expect=C503_TLS_ACTIVE)


def test_starttls_after_upgrade(t: Transcript) -> None:
    """STARTTLS again after a completed upgrade is 503 5.5.1."""
    t.ehlo()
    t.cmd("STARTTLS", event=StartTls(), reply=C220_TLS_GO)
    t.conn.tls_started()
    t.ehlo()
    t.cmd("STARTTLS", expect=C503_TLS_ACTIVE)


def test_starttls_in_transaction(t: Transcript) -> None:
    """STARTTLS inside a transaction is 503 5.5.1."""
    t.transaction()
    t.cmd("STARTTLS", expect=C503_BAD_SEQUENCE.with_text("STARTTLS not allowed in a transaction"))


def test_data_after_bdat(t: Transcript) -> None:
    """DATA after a BDAT chunk in the same transaction is 503 5.5.1 (RFC 3030 §2)."""
    t.transaction()
    t.client("BDAT 3\r\nabc")
    t.event()
    t.collect()
    t.reply(C235_AUTH_OK.__class__(250, "2.0.0", "ok"))
    t.cmd("DATA", expect=C503_BAD_SEQUENCE.with_text("DATA not allowed after BDAT"))
    assert t.conn.state is State.CHUNKING


def test_bdat_disabled() -> None:
    """BDAT when chunking is off is 500 5.5.1 unknown command."""
    t = Transcript(ServerOptions(chunking=False))
    t.transaction()
    t.cmd("BDAT 3 LAST", expect=C500_BDAT_DISABLED)


@pytest.mark.parametrize("line", ["XYZZY", "MAILFROM:<a@b>", "EHLOx y", "\tNOOP"])
def test_unknown_verbs(t: Transcript, line: str) -> None:
    """Unknown verbs get 500 5.5.2 "Command unrecognized"."""
    t.cmd(line, expect=C500_UNRECOGNIZED)


@pytest.mark.parametrize(
    "line",
    ["MAIL TO:<a@b.example>", "MAIL FROM", "MAIL FROM:  <a@b.example>", "MAIL <a@b.example>"],
)
def test_mail_syntax(t: Transcript, line: str) -> None:
    """MAIL without "FROM:" (one optional space) is 501 5.5.4."""
    t.ehlo()
    t.cmd(line, expect=C501_SYNTAX if "FROM:" not in line else C501_BAD_SENDER)


@pytest.mark.parametrize(
    "path",
    [
        "a@b.example",
        "<a@b.example",
        "<a@>",
        "<@b.example>",
        "<a b@c.example>",
        "<a@b..c>",
        "<a@b.example>x",
    ],
)
def test_bad_sender_address(t: Transcript, path: str) -> None:
    """Bad MAIL address syntax is 501 5.1.7."""
    t.ehlo()
    t.cmd(f"MAIL FROM:{path}", expect=C501_BAD_SENDER)


@pytest.mark.parametrize("path", ["<>", "c@d.example", "<c@d", "<x>", "<c@d.example >"])
def test_bad_recipient_address(t: Transcript, path: str) -> None:
    """Bad RCPT address syntax (including <>) is 501 5.1.3."""
    t.ehlo()
    t.mail()
    t.cmd(f"RCPT TO:{path}", expect=C501_BAD_RECIPIENT)


def test_unknown_mail_parameter(t: Transcript) -> None:
    """An unknown MAIL parameter is 555 5.5.4."""
    t.ehlo()
    t.cmd(
        "MAIL FROM:<a@b.example> FOO=bar",
        expect=C555_UNKNOWN_PARAM.with_text("Unknown MAIL parameter FOO"),
    )


def test_unknown_rcpt_parameter(t: Transcript) -> None:
    """An unknown RCPT parameter is 555 5.5.4."""
    t.ehlo()
    t.mail()
    t.cmd(
        "RCPT TO:<c@d.example> FOO",
        expect=C555_UNKNOWN_PARAM.with_text("Unknown RCPT parameter FOO"),
    )


@pytest.mark.parametrize("params", ["SIZE=abc", "SIZE", "BODY=BINARYMIME", "RET=ALL", "=x"])
def test_bad_mail_parameter_values(t: Transcript, params: str) -> None:
    """Malformed known parameters are 501 5.5.4."""
    t.ehlo()
    t.client(f"MAIL FROM:<a@b.example> {params}\r\n")
    ev = t.event()
    assert isinstance(ev, CommandError)
    assert (ev.reply.code, ev.reply.enhanced) == (501, "5.5.4")


def test_non_ascii_sender_without_smtputf8(t: Transcript) -> None:
    """A UTF-8 sender without SMTPUTF8 is 553 5.6.7 (RFC 6531 §3.2)."""
    t.ehlo()
    t.cmd("MAIL FROM:<jöran@example.com>", expect=C553_UTF8_REQUIRED)


def test_non_ascii_recipient_in_ascii_transaction(t: Transcript) -> None:
    """A UTF-8 recipient in a transaction opened without SMTPUTF8 is 553 5.6.7."""
    t.ehlo()
    t.mail()
    t.cmd("RCPT TO:<jöran@example.com>", expect=C553_UTF8_REQUIRED)


def test_smtputf8_transaction_allows_utf8(t: Transcript) -> None:
    """With SMTPUTF8 on MAIL, UTF-8 sender and recipients are accepted."""
    t.ehlo()
    t.mail("<jöran@bücher.example>", "SMTPUTF8")
    t.rcpt("<用户@例子.广告>")


def test_smtputf8_resets_with_transaction(t: Transcript) -> None:
    """After RSET, a new non-SMTPUTF8 transaction refuses UTF-8 recipients again."""
    t.ehlo()
    t.mail("<a@b.example>", "SMTPUTF8")
    t.cmd("RSET")
    t.mail()
    t.cmd("RCPT TO:<jöran@example.com>", expect=C553_UTF8_REQUIRED)


def test_smtputf8_disabled_is_unknown_parameter() -> None:
    """With SMTPUTF8 off, the parameter is unknown (555) and UTF-8 addresses get 553."""
    t = Transcript(ServerOptions(smtputf8=False))
    t.ehlo()
    t.cmd(
        "MAIL FROM:<a@b.example> SMTPUTF8",
        expect=C555_UNKNOWN_PARAM.with_text("Unknown MAIL parameter SMTPUTF8"),
    )
    t.cmd("MAIL FROM:<jöran@example.com>", expect=C553_UTF8_REQUIRED)


def test_nul_in_command(t: Transcript) -> None:
    """A NUL octet in a command line is 500 5.5.2."""
    t.cmd(b"NOOP \0", expect=C500_BAD_OCTETS)


def test_bare_lf_is_not_a_line_end(t: Transcript) -> None:
    """RFC 5321 §2.3.8: a bare LF does not end a command; the whole line is refused."""
    t.client("NOOP\nQUIT\r\n")
    ev = t.event()
    assert isinstance(ev, CommandError)
    assert ev.reply == C500_BAD_OCTETS
    assert ev.line == b"NOOP\nQUIT"


def test_bare_cr_in_command(t: Transcript) -> None:
    """A bare CR inside a command line is refused."""
    t.cmd(b"NOOP\rx", expect=C500_BAD_OCTETS)


def test_invalid_utf8_in_command(t: Transcript) -> None:
    """Invalid UTF-8 in a command line is 500 5.5.2."""
    t.cmd(b"VRFY \xff\xfe", expect=C500_BAD_OCTETS)


def test_errors_do_not_change_state(t: Transcript) -> None:
    """A string of errors leaves the transaction exactly where it was."""
    t.transaction()
    t.cmd("FOO", expect=C500_UNRECOGNIZED)
    t.cmd("MAIL FROM:<a@b.example>", expect=NESTED_MAIL)
    t.cmd("RCPT TO:bad", expect=C501_BAD_RECIPIENT)
    t.cmd(b"\0", expect=C500_BAD_OCTETS)
    assert t.conn.state is State.RCPT
