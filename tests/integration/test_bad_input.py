"""Hostile and broken clients get the right reply or a clean close; others are still served."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl

import pytest

from roost.config import RoostConfig
from tests.integration.harness import ALICE, BOB, RunningServer, running_server
from tests.integration.rawclient import RawClient
from tests.integration.test_receive import make_message


def still_serving(server: RunningServer) -> None:
    """A well-behaved client still gets its mail delivered."""
    before = len(server.inbox(BOB))
    with server.smtp() as client:
        client.sendmail("ok@x.example", [BOB], make_message("ok@x", BOB, "still ok"))
    assert len(server.inbox(BOB)) == before + 1


def open_transaction(client: RawClient, rcpt: str = ALICE) -> None:
    assert client.cmd(b"EHLO x.example")[0] == 250
    assert client.cmd(b"MAIL FROM:<s@x.example>")[0] == 250
    assert client.cmd(f"RCPT TO:<{rcpt}>".encode())[0] == 250


def test_garbage_and_unknown_commands(server: RunningServer) -> None:
    """Unknown verbs get 500 5.5.2 and binary garbage does not crash the session."""
    with RawClient(server.port()) as c:
        assert c.cmd(b"XYZZY")[0] == 500
        assert c.cmd(b"\xff\xfe\x00garbage")[0] == 500
        assert c.cmd(b"EHLO x.example")[0] == 250
    still_serving(server)


def test_commands_out_of_order(server: RunningServer) -> None:
    """MAIL before EHLO, RCPT before MAIL, DATA before RCPT: 503 5.5.1 each."""
    with RawClient(server.port()) as c:
        code, text = c.cmd(b"MAIL FROM:<a@b.example>")
        assert (code, text[:5]) == (503, b"5.5.1")
        c.cmd(b"EHLO x.example")
        assert c.cmd(b"RCPT TO:<alice@roost.test>")[0] == 503
        assert c.cmd(b"DATA")[0] == 503
        assert c.cmd(b"MAIL FROM:<a@b.example>")[0] == 250
        assert c.cmd(b"DATA")[0] == 503
        assert c.cmd(b"MAIL FROM:<a@b.example>")[0] == 503  # nested MAIL
    still_serving(server)


def test_error_counter_drops_abusive_client(server: RunningServer) -> None:
    """After limits.max_errors bad commands the server answers 421 and closes."""
    limit = server.config.limits.max_errors
    with RawClient(server.port()) as c:
        codes = [c.cmd(b"BOGUS")[0] for _ in range(limit)]
        assert codes[:-1] == [500] * (limit - 1)
        assert codes[-1] == 421
        assert c.closed_by_server()
    still_serving(server)


def test_pipelined_batch_answered_in_order(server: RunningServer) -> None:
    """A whole pipelined transaction in one write gets every reply, in order (RFC 2920)."""
    batch = (
        b"EHLO x.example\r\nMAIL FROM:<s@x.example>\r\nRCPT TO:<alice@roost.test>\r\n"
        b"RCPT TO:<nobody@roost.test>\r\nRCPT TO:<bob@roost.test>\r\nDATA\r\n"
    )
    with RawClient(server.port()) as c:
        c.send(batch)
        codes = [c.reply()[0] for _ in range(6)]
        assert codes == [250, 250, 250, 550, 250, 354]
        assert c.cmd(b"Subject: p\r\n\r\nbody\r\n.")[0] == 250
    assert len(server.inbox(ALICE)) == 1
    assert len(server.inbox(BOB)) == 1


def test_ten_thousand_rcpts(server: RunningServer) -> None:
    """10,000 pipelined RCPTs: the first max_recipients pass, the rest get 452, nothing breaks."""
    limit = server.config.limits.max_recipients
    with RawClient(server.port(), timeout=60) as c:
        c.cmd(b"EHLO x.example")
        c.cmd(b"MAIL FROM:<s@x.example>")
        c.send(b"RCPT TO:<alice@roost.test>\r\n" * 10_000)
        codes = [c.reply()[0] for _ in range(10_000)]
        assert codes.count(250) == limit
        assert codes.count(452) == 10_000 - limit
        assert c.cmd(b"DATA")[0] == 354
        assert c.cmd(b"Subject: many\r\n\r\nx\r\n.")[0] == 250
    assert len(server.inbox(ALICE)) == 1  # one copy, however many RCPTs named her


def test_overlong_command_line(server: RunningServer) -> None:
    """A command line far over the limit gets 500 5.5.2 and the session continues."""
    with RawClient(server.port()) as c:
        code, text = c.cmd(b"EHLO " + b"a" * 100_000)
        assert (code, text[:5]) == (500, b"5.5.2")
        assert c.cmd(b"EHLO x.example")[0] == 250
    still_serving(server)


def test_overlong_data_line_refused(server: RunningServer) -> None:
    """A message line over limits.max_line_length is refused after DATA, not truncated."""
    with RawClient(server.port()) as c:
        open_transaction(c)
        assert c.cmd(b"DATA")[0] == 354
        code, _ = c.cmd(b"Subject: long\r\n\r\n" + b"y" * 5000 + b"\r\n.")
        assert code == 550
        assert c.cmd(b"NOOP")[0] == 250
    assert server.inbox(ALICE) == []


def test_nul_bytes(server: RunningServer) -> None:
    """NUL in a command is a syntax error; NUL in a message refuses the message."""
    with RawClient(server.port()) as c:
        assert c.cmd(b"EHLO x\x00y")[0] == 500
        open_transaction(c)
        assert c.cmd(b"DATA")[0] == 354
        assert c.cmd(b"Subject: nul\r\n\r\na\x00b\r\n.")[0] == 550
    assert server.inbox(ALICE) == []
    still_serving(server)


SMUGGLED = (
    b"MAIL FROM:<admin@roost.test>\r\nRCPT TO:<bob@roost.test>\r\nDATA\r\n"
    b"From: admin@roost.test\r\nSubject: smuggled\r\n\r\nevil\r\n"
)


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"])
def test_smuggling_variants_never_split_a_message(server: RunningServer, fake_end: bytes) -> None:
    """Only CRLF.CRLF ends DATA: a bare-LF/CR "end" is data and cannot start a second message."""
    with RawClient(server.port()) as c:
        open_transaction(c)
        assert c.cmd(b"DATA")[0] == 354
        c.send(b"Subject: first\r\n\r\nhello" + fake_end + SMUGGLED + b".\r\n")
        code, _ = c.reply()
        assert code == 550  # bare CR/LF refused by default (smtp.bare_line_endings = "reject")
        assert c.cmd(b"NOOP")[0] == 250  # exactly one reply came: no second transaction ran
    assert server.inbox(BOB) == []
    assert server.inbox(ALICE) == []


def test_smuggling_with_bare_line_endings_accepted_is_one_message(config: RoostConfig) -> None:
    """With bare line endings accepted, the smuggled part is just text inside one message."""
    config.smtp.bare_line_endings = "accept"
    with running_server(config) as server, RawClient(server.port()) as c:
        open_transaction(c)
        c.cmd(b"DATA")
        c.send(b"Subject: first\r\n\r\nhello\n.\n" + SMUGGLED + b".\r\n")
        assert c.reply()[0] == 250
        assert c.cmd(b"NOOP")[0] == 250
        assert server.inbox(BOB) == []
        (msg,) = server.inbox(ALICE)
        assert b"Subject: smuggled" in server.message_bytes(msg)


def test_client_disconnects_mid_data(server: RunningServer) -> None:
    """A client that vanishes mid-DATA stores nothing and the server keeps serving."""
    c = RawClient(server.port())
    open_transaction(c)
    assert c.cmd(b"DATA")[0] == 354
    c.send(b"Subject: cut\r\n\r\npartial body without end")
    c.close()
    still_serving(server)
    assert server.inbox(ALICE) == []
    assert server.store.list_queue() == []


def test_bdat_chunks(server: RunningServer) -> None:
    """RFC 3030: BDAT chunks, including bytes that look like commands, form one message."""
    part1 = b"Subject: chunked\r\n\r\nline one\r\n.\r\nQUIT\r\n"
    part2 = b"line two\r\n"
    with RawClient(server.port()) as c:
        open_transaction(c)
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        assert c.reply()[0] == 250
        c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        code, text = c.reply()
        assert code == 250
        assert b"queued as" in text
    (msg,) = server.inbox(ALICE)
    assert server.message_bytes(msg).endswith(part1 + part2)


def test_bdat_without_recipients_consumes_bytes(server: RunningServer) -> None:
    """A BDAT that cannot be accepted still has its bytes consumed; the session stays in sync."""
    with RawClient(server.port()) as c:
        c.cmd(b"EHLO x.example")
        c.cmd(b"MAIL FROM:<s@x.example>")
        assert c.cmd(b"RCPT TO:<nobody@roost.test>")[0] == 550
        c.send(b"BDAT 10 LAST\r\nNOOP\r\nNOOP")
        assert c.reply()[0] >= 500
        assert c.cmd(b"NOOP")[0] == 250


def test_tls_handshake_garbage_on_implicit_tls(server: RunningServer) -> None:
    """Garbage instead of a TLS ClientHello on port 465's role closes that connection only."""
    with socket.create_connection(("127.0.0.1", server.port("submissions")), timeout=10) as s:
        s.sendall(b"EHLO this is not tls\r\n" * 10)
        with contextlib.suppress(ConnectionResetError):
            assert s.recv(1024) == b""
    still_serving(server)


def test_tls_garbage_after_starttls(server: RunningServer) -> None:
    """Garbage after 220 to STARTTLS ends that session; the server stays up."""
    with RawClient(server.port()) as c:
        c.cmd(b"EHLO x.example")
        assert c.cmd(b"STARTTLS")[0] == 220
        c.send(b"\x16\x03\x01\x00\x05hello-garbage" * 4)
        assert c.closed_by_server()
    still_serving(server)


def test_starttls_discards_pipelined_plaintext(server: RunningServer) -> None:
    """Commands pipelined after STARTTLS are discarded, not run inside TLS (CVE-2011-0411)."""
    with RawClient(server.port()) as c:
        c.cmd(b"EHLO x.example")
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@x.example>\r\n")
        assert c.reply()[0] == 220
        c.starttls()
        assert c.cmd(b"EHLO x.example")[0] == 250
        assert c.cmd(b"MAIL FROM:<s@x.example>")[0] == 250  # no injected transaction open


def test_too_many_connections_per_ip(config: RoostConfig) -> None:
    """Past limits.max_connections_per_ip, new connections get 421 and are closed."""
    config.limits.max_connections_per_ip = 2
    with running_server(config) as server:
        first, second = RawClient(server.port()), RawClient(server.port())
        try:
            third = RawClient(server.port())
            assert third.greeting[0] == 421
            third.close()
        finally:
            first.close()
            second.close()


def test_idle_client_times_out(config: RoostConfig) -> None:
    """A client silent past limits.command_timeout gets 421 4.4.2 and is disconnected."""
    config.limits.command_timeout = 0.3
    with running_server(config) as server, RawClient(server.port()) as c:
        code, text = c.reply()
        assert (code, text[:5]) == (421, b"4.4.2")


def test_plaintext_to_tls_client_rejected(server: RunningServer) -> None:
    """A TLS client connecting to the plaintext MX port fails cleanly; the server stays up."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, OSError)):
        smtplib.SMTP_SSL("127.0.0.1", server.port(), context=ctx, timeout=5)
    still_serving(server)
