"""The sans-I/O POP3 connection: parsing, state rules and response formatting, as transcripts."""

from __future__ import annotations

import ast
import base64
from pathlib import Path

import pytest

from roost.pop3 import events as ev
from roost.pop3.events import NEED_DATA, err, ok
from roost.pop3.server import (
    LocalProtocolError,
    Pop3Connection,
    Pop3Options,
    State,
    dot_stuff,
    format_response,
)

TLS = Pop3Options(tls_active=True)


def feed(conn: Pop3Connection, data: bytes) -> ev.Event:
    conn.receive_data(data)
    event = conn.next_event()
    assert event is not NEED_DATA
    return event  # type: ignore[return-value]


def login(conn: Pop3Connection) -> None:
    assert feed(conn, b"USER alice\r\n") == ev.User("alice")
    conn.send(ok())
    assert feed(conn, b"PASS secret words\r\n") == ev.Pass("secret words")
    conn.send(ok())
    assert conn.state is State.TRANSACTION


def test_no_io_imports() -> None:
    """The core is sans-I/O: no asyncio, socket, ssl or time (as the SMTP core)."""
    for name in ("server.py", "events.py"):
        tree = ast.parse((Path("src/roost/pop3") / name).read_text())
        modules = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert not modules & {"asyncio", "socket", "ssl", "time", "selectors"}, name


def test_greeting_and_formatting() -> None:
    conn = Pop3Connection()
    assert conn.greeting("ready") == b"+OK ready\r\n"
    with pytest.raises(LocalProtocolError):
        conn.greeting("again")
    assert format_response(err("nope", "AUTH")) == b"-ERR [AUTH] nope\r\n"
    assert format_response(ev.continuation("")) == b"+ \r\n"
    assert format_response(ok("list", b"1 10\r\n")) == b"+OK list\r\n1 10\r\n.\r\n"


def test_dot_stuffing() -> None:
    """RFC 1939 §3: lines starting with "." get another; the body ends with CRLF.CRLF."""
    assert dot_stuff(b"") == b".\r\n"
    assert dot_stuff(b".a\r\nb\r\n.\r\n") == b"..a\r\nb\r\n..\r\n.\r\n"
    assert dot_stuff(b"no newline") == b"no newline\r\n.\r\n"
    assert dot_stuff(b"bare\nlf\n") == b"bare\r\nlf\r\n.\r\n"


def test_commands_before_login_are_refused() -> None:
    conn = Pop3Connection(TLS)
    for line in (b"STAT", b"LIST", b"RETR 1", b"DELE 1", b"NOOP", b"RSET", b"TOP 1 0", b"UIDL"):
        event = feed(conn, line + b"\r\n")
        assert isinstance(event, ev.CommandError), line
        assert not event.response.ok
        assert conn.send(event.response).startswith(b"-ERR")
    assert conn.state is State.AUTHORIZATION


def test_unknown_and_case_insensitive() -> None:
    conn = Pop3Connection(TLS)
    event = feed(conn, b"XYZZY\r\n")
    assert isinstance(event, ev.CommandError)
    assert event.response.text == "Unknown command"
    conn.send(event.response)
    assert feed(conn, b"capa\r\n") == ev.Capa()
    conn.send(ok())
    assert feed(conn, b"user Bob\n") == ev.User("Bob")  # a bare LF is tolerated


def test_pass_needs_user_immediately_before() -> None:
    """RFC 1939 §7: PASS follows a successful USER; a failed one or another command resets."""
    conn = Pop3Connection(TLS)
    event = feed(conn, b"PASS x\r\n")
    assert isinstance(event, ev.CommandError)
    conn.send(event.response)
    feed(conn, b"USER a\r\n")
    conn.send(err("no"))
    assert isinstance(feed(conn, b"PASS x\r\n"), ev.CommandError)
    conn.send(err("no"))
    feed(conn, b"USER a\r\n")
    conn.send(ok())
    assert feed(conn, b"PASS x\r\n") == ev.Pass("x")
    conn.send(err("bad", "AUTH"))
    assert conn.state is State.AUTHORIZATION
    assert isinstance(feed(conn, b"PASS x\r\n"), ev.CommandError)


def test_login_refused_without_tls_unless_allowed() -> None:
    """RFC 2595 §2.1: no plaintext password before STLS unless the config allows it."""
    conn = Pop3Connection()
    for line in (b"USER a", b"AUTH PLAIN", b"PASS x"):
        event = feed(conn, line + b"\r\n")
        assert isinstance(event, ev.CommandError)
        assert "STLS" in event.response.text
        conn.send(event.response)
    assert not conn.login_allowed
    lax = Pop3Connection(Pop3Options(allow_plaintext_auth=True))
    assert feed(lax, b"USER a\r\n") == ev.User("a")


def test_stls_upgrade_discards_pipelined_plaintext() -> None:
    conn = Pop3Connection()
    assert feed(conn, b"STLS\r\nUSER injected\r\n") == ev.Stls()
    conn.send(ok("go"))
    assert conn.state is State.TLS_PENDING
    conn.receive_data(b"PASS more\r\n")
    assert conn.next_event() is NEED_DATA
    conn.tls_started()
    assert conn.tls_active
    assert conn.next_event() is NEED_DATA
    event = feed(conn, b"STLS\r\n")
    assert isinstance(event, ev.CommandError)  # already under TLS
    conn.send(event.response)
    with pytest.raises(LocalProtocolError):
        conn.tls_started()


def test_auth_plain_initial_response_and_continuation() -> None:
    conn = Pop3Connection(TLS)
    token = base64.b64encode(b"\0alice\0pw").decode()
    assert feed(conn, f"AUTH PLAIN {token}\r\n".encode()) == ev.Auth("PLAIN", b"\0alice\0pw")
    conn.send(err("bad", "AUTH"))
    assert feed(conn, b"AUTH plain\r\n") == ev.Auth("PLAIN", None)
    assert conn.send(ev.continuation("")) == b"+ \r\n"
    assert conn.state is State.SASL
    assert feed(conn, token.encode() + b"\r\n") == ev.AuthResponse(b"\0alice\0pw")
    conn.send(ok("in"))
    assert conn.state is State.TRANSACTION


def test_auth_cancel_and_bad_base64() -> None:
    conn = Pop3Connection(TLS)
    feed(conn, b"AUTH PLAIN\r\n")
    conn.send(ev.continuation(""))
    assert feed(conn, b"*\r\n") == ev.AuthResponse(b"", cancelled=True)
    conn.send(err("cancelled"))
    assert conn.state is State.AUTHORIZATION
    feed(conn, b"AUTH PLAIN\r\n")
    conn.send(ev.continuation(""))
    event = feed(conn, b"!!notbase64\r\n")
    assert isinstance(event, ev.CommandError)
    conn.send(event.response)
    assert conn.state is State.AUTHORIZATION
    for line in (b"AUTH\r\n", b"AUTH PLAIN !!\r\n", b"AUTH PLAIN a b\r\n"):
        event = feed(conn, line)
        assert isinstance(event, ev.CommandError), line
        conn.send(event.response)


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (b"STAT", ev.Stat()),
        (b"LIST", ev.List(None)),
        (b"LIST 2", ev.List(2)),
        (b"UIDL", ev.Uidl(None)),
        (b"UIDL 3", ev.Uidl(3)),
        (b"RETR 1", ev.Retr(1)),
        (b"DELE 7", ev.Dele(7)),
        (b"TOP 1 0", ev.Top(1, 0)),
        (b"TOP 1 10", ev.Top(1, 10)),
        (b"NOOP", ev.Noop()),
        (b"RSET", ev.Rset()),
        (b"CAPA", ev.Capa()),
        (b"QUIT", ev.Quit()),
    ],
)
def test_transaction_commands(line: bytes, event: ev.Event) -> None:
    conn = Pop3Connection(TLS)
    login(conn)
    assert feed(conn, line + b"\r\n") == event


@pytest.mark.parametrize(
    "line",
    [b"RETR", b"RETR 0", b"RETR x", b"RETR -1", b"DELE 1 2", b"LIST a", b"TOP 1", b"TOP 1 -1",
     b"STAT 1", b"UIDL 1 2", b"USER a", b"PASS b", b"AUTH PLAIN", b"STLS", b"RETR 9999999999"],
)  # fmt: skip
def test_transaction_refusals(line: bytes) -> None:
    conn = Pop3Connection(TLS)
    login(conn)
    event = feed(conn, line + b"\r\n")
    assert isinstance(event, ev.CommandError), line
    conn.send(event.response)
    assert conn.state is State.TRANSACTION


def test_long_lines_are_refused_and_memory_bounded() -> None:
    conn = Pop3Connection(TLS)
    login(conn)
    event = feed(conn, b"LIST " + b"1" * 1000 + b"\r\n")
    assert isinstance(event, ev.CommandError)
    assert event.response.text == "Line too long"
    conn.send(event.response)
    conn.receive_data(b"X" * 100_000)
    assert conn.next_event() is NEED_DATA
    assert conn.buffered_bytes < 5000
    event = feed(conn, b"tail\r\nNOOP\r\n")
    assert isinstance(event, ev.CommandError)
    conn.send(event.response)
    assert conn.next_event() == ev.Noop()


def test_pipelined_commands_one_at_a_time() -> None:
    conn = Pop3Connection(TLS)
    login(conn)
    conn.receive_data(b"STAT\r\nLIST\r\n")
    assert conn.next_event() == ev.Stat()
    with pytest.raises(LocalProtocolError):
        conn.next_event()
    conn.send(ok("0 0"))
    assert conn.next_event() == ev.List(None)


def test_quit_closes_and_eof_is_connection_closed() -> None:
    conn = Pop3Connection(TLS)
    feed(conn, b"QUIT\r\n")
    conn.send(ok("bye"))
    assert conn.wants_close
    assert isinstance(conn.next_event(), ev.ConnectionClosed)
    other = Pop3Connection(TLS)
    other.receive_data(b"NOOP")
    other.receive_data(b"")
    assert isinstance(other.next_event(), ev.ConnectionClosed)
    assert other.wants_close


def test_send_without_event_is_a_local_error() -> None:
    conn = Pop3Connection(TLS)
    with pytest.raises(LocalProtocolError):
        conn.send(ok())
    feed(conn, b"CAPA\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send(ev.continuation(""))
