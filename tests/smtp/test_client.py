"""The sans-I/O SMTP client: reply parsing, command builders, EHLO keywords, body framing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost.smtp.client import (
    NEED_DATA,
    ClientConnection,
    ConnectionClosed,
    ReplyError,
    ServerReply,
    read_ehlo,
)
from roost.smtp.client_body import dot_stuff, normalize_line_endings, xtext_encode
from roost.smtp.client_ehlo import parse_ehlo
from roost.smtp.errors import LocalProtocolError
from roost.smtp.extensions import xtext_decode


def greeted() -> ClientConnection:
    conn = ClientConnection()
    conn.receive_data(b"220 mx.example ESMTP\r\n")
    assert isinstance(conn.next_event(), ServerReply)
    return conn


def reply_of(conn: ClientConnection) -> ServerReply:
    event = conn.next_event()
    assert isinstance(event, ServerReply), event
    return event


def test_greeting_is_the_first_reply() -> None:
    """The first reply answers the connection itself, labelled GREETING."""
    conn = ClientConnection()
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"220 mx.example ESMTP ready\r\n")
    reply = reply_of(conn)
    assert (reply.code, reply.enhanced, reply.text, reply.command) == (
        220,
        "",
        "mx.example ESMTP ready",
        "GREETING",
    )


def test_multi_line_reply_is_one_event() -> None:
    """'code-text' lines continue a reply; the 'code text' line ends it (RFC 5321 §4.2)."""
    conn = greeted()
    conn.ehlo("client.example")
    conn.receive_data(b"250-mx.example hi\r\n250-PIPELINING\r\n250-SIZE 1000\r\n")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"250 8BITMIME\r\n")
    reply = reply_of(conn)
    assert reply.lines == ("mx.example hi", "PIPELINING", "SIZE 1000", "8BITMIME")
    assert reply.command == "EHLO"


def test_enhanced_code_is_split_from_every_line() -> None:
    """An RFC 3463 code matching the reply's class is split off, also on continuation lines."""
    conn = greeted()
    conn.rcpt("x@example.com")
    conn.receive_data(b"550-5.1.1 No such user\r\n550 5.1.1 here\r\n")
    reply = reply_of(conn)
    assert reply.enhanced == "5.1.1"
    assert reply.text == "No such user\nhere"
    assert reply.as_reply().code == 550


def test_enhanced_code_of_other_class_stays_text() -> None:
    """A '2.0.0' inside a 4xx reply is not its enhanced code (the classes must agree)."""
    conn = greeted()
    conn.noop()
    conn.receive_data(b"451 2.0.0 odd\r\n")
    reply = reply_of(conn)
    assert (reply.enhanced, reply.text) == ("", "2.0.0 odd")


def test_code_only_reply_and_bare_lf_are_accepted() -> None:
    """'250' alone is a complete reply; a bare LF ending from a server is tolerated."""
    conn = greeted()
    conn.noop()
    conn.noop()
    conn.receive_data(b"250\n250 ok\r\n")
    assert reply_of(conn).text == ""
    assert reply_of(conn).text == "ok"


@pytest.mark.parametrize(
    "garbage",
    [
        b"hello\r\n",
        b"25 short\r\n",
        b"650 bad class\r\n",
        b"250x nope\r\n",
        b"250-one\r\n251 two\r\n",
        b"250 a\rb\r\n",
    ],
)
def test_malformed_reply_raises(garbage: bytes) -> None:
    """Anything that is not a reply line (or changes code mid-reply) is a ReplyError."""
    conn = greeted()
    conn.noop()
    conn.receive_data(garbage)
    with pytest.raises(ReplyError):
        conn.next_event()


def test_overlong_reply_line_raises_without_buffering_forever() -> None:
    """A server that never ends a line is cut off once the line is clearly too long."""
    conn = greeted()
    conn.noop()
    conn.receive_data(b"250 " + b"x" * 10_000)
    with pytest.raises(ReplyError):
        conn.next_event()


def test_unsolicited_reply_is_an_error_but_421_is_not() -> None:
    """Replies are matched to commands in order; only a 421 may come unasked (RFC 5321 §3.8)."""
    conn = greeted()
    conn.receive_data(b"421 4.3.2 shutting down\r\n")
    assert reply_of(conn).command == "UNSOLICITED"
    conn = greeted()
    conn.receive_data(b"250 surprise\r\n")
    with pytest.raises(ReplyError):
        conn.next_event()


def test_pipelined_replies_come_back_in_command_order() -> None:
    """MAIL, RCPT, RCPT in one write: the replies are labelled in the order sent."""
    conn = greeted()
    out = conn.mail("a@example.com") + conn.rcpt("b@example.net") + conn.rcpt("c@example.net")
    assert out.count(b"\r\n") == 3
    assert conn.awaiting == ("MAIL", "RCPT", "RCPT")
    conn.receive_data(b"250 ok\r\n250 ok\r\n550 no\r\n")
    assert [reply_of(conn).command for _ in range(3)] == ["MAIL", "RCPT", "RCPT"]


def test_eof_gives_connection_closed() -> None:
    """EOF (b'') ends the event stream with ConnectionClosed, also mid-reply."""
    conn = greeted()
    conn.noop()
    conn.receive_data(b"250-partial\r\n")
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), ConnectionClosed)


def test_command_builders() -> None:
    """Builders format commands with their parameters and CRLF."""
    conn = greeted()
    assert conn.ehlo("c.example") == b"EHLO c.example\r\n"
    assert conn.mail("", {"SIZE": "10", "SMTPUTF8": None}) == b"MAIL FROM:<> SIZE=10 SMTPUTF8\r\n"
    assert conn.rcpt("b@x", {"NOTIFY": "NEVER"}) == b"RCPT TO:<b@x> NOTIFY=NEVER\r\n"
    assert conn.bdat(b"abc", last=True) == b"BDAT 3 LAST\r\nabc"
    assert conn.rset() == b"RSET\r\n"
    assert conn.quit() == b"QUIT\r\n"


def test_auth_plain_initial_response() -> None:
    """RFC 4616 §2: base64 of authzid NUL authcid NUL password, as an initial response."""
    conn = greeted()
    assert conn.auth_plain("user", "pass") == b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"
    assert conn.auth_login() == b"AUTH LOGIN\r\n"
    assert conn.auth_response(b"user") == b"dXNlcg==\r\n"


def test_injection_into_commands_is_refused() -> None:
    """An address or parameter carrying CRLF cannot add a command (LocalProtocolError)."""
    conn = greeted()
    with pytest.raises(LocalProtocolError):
        conn.rcpt("a@b>\r\nRCPT TO:<evil@x")
    with pytest.raises(LocalProtocolError):
        conn.mail("a@b", {"ENVID": "x y"})


def test_message_needs_354_first() -> None:
    """The body is only framed after a 354 to DATA; commands wait until it was sent."""
    conn = greeted()
    with pytest.raises(LocalProtocolError):
        conn.message(b"x")
    conn.data()
    conn.receive_data(b"354 go\r\n")
    assert reply_of(conn).code == 354
    with pytest.raises(LocalProtocolError):
        conn.rset()
    assert conn.message(b"hi") == b"hi\r\n.\r\n"
    assert conn.awaiting == ("DATA-END",)


def test_bytes_after_starttls_220_are_dropped() -> None:
    """RFC 3207 §5: plaintext after the 220 could be injected; it is never read as a reply."""
    conn = greeted()
    conn.starttls()
    conn.receive_data(b"220 go ahead\r\n250 injected\r\n")
    assert reply_of(conn).code == 220
    conn.receive_data(b"250 also injected\r\n")
    with pytest.raises(LocalProtocolError):
        conn.ehlo("x")
    conn.tls_started()
    assert conn.next_event() is NEED_DATA


def test_ehlo_keywords() -> None:
    """EHLO keywords become typed fields; SIZE 0 or bare SIZE means no fixed limit."""
    ext = parse_ehlo(
        [
            "mx.example hello",
            "PIPELINING",
            "size 35882577",
            "8BITMIME",
            "SMTPUTF8",
            "STARTTLS",
            "AUTH PLAIN login",
            "AUTH=CRAM-MD5",
            "CHUNKING",
            "DSN",
            "ENHANCEDSTATUSCODES",
            "bad keyword!",
        ]
    )
    flags = (ext.pipelining, ext.eightbitmime, ext.smtputf8, ext.starttls, ext.chunking, ext.dsn)
    assert all(flags)
    assert ext.enhancedstatuscodes
    assert ext.size == 35882577
    assert ext.auth == {"PLAIN", "LOGIN"}
    assert parse_ehlo(["x", "SIZE"]).size == 0
    assert parse_ehlo(["x"]).size is None


def test_read_ehlo_ignores_helo_and_refusals() -> None:
    """A HELO reply or a refused EHLO offers no extensions."""
    helo = ServerReply(250, "", ("x", "PIPELINING"), "HELO")
    assert not read_ehlo(helo).pipelining
    assert read_ehlo(ServerReply(250, "", ("x", "PIPELINING"), "EHLO")).pipelining


def test_dot_stuffing() -> None:
    """RFC 5321 §4.5.2: leading dots doubled, CRLF added before the final '.'."""
    assert dot_stuff(b".a\r\nb\r\n..c") == b"..a\r\nb\r\n...c\r\n.\r\n"
    assert dot_stuff(b"") == b".\r\n"


def test_bare_line_endings_become_crlf() -> None:
    """Every bare CR and LF becomes CRLF, so no smuggled end of data survives."""
    assert normalize_line_endings(b"a\nb\rc\r\r\nd") == b"a\r\nb\r\nc\r\n\r\nd"
    assert dot_stuff(b"x\n.\nMAIL FROM:<evil>\n") == b"x\r\n..\r\nMAIL FROM:<evil>\r\n.\r\n"


@given(st.text())
def test_xtext_round_trip(text: str) -> None:
    """xtext_encode output is ASCII without '+'/'=' literals and decodes back."""
    encoded = xtext_encode(text)
    assert encoded.isascii()
    assert "=" not in encoded
    assert " " not in encoded
    assert xtext_decode(encoded).encode("latin-1") == text.encode("utf-8")
