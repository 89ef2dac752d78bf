"""POP3 over real sockets with Python's poplib against a running Roost, on both backends."""

from __future__ import annotations

import base64
import poplib
import time
from collections.abc import Iterator

import pytest

from roost.config import RoostConfig
from tests.integration.harness import (
    ALICE,
    ALICE_PASSWORD,
    BOB,
    BOB_PASSWORD,
    RunningServer,
    client_tls,
    prepare_config,
    running_server,
)

BIG_LINE = b"x" * 76 + b"\r\n"


@pytest.fixture
def server(roost_config: RoostConfig) -> Iterator[RunningServer]:
    with running_server(prepare_config(roost_config)) as running:
        yield running


def deliver(server: RunningServer, to: str, subject: str, body: bytes) -> None:
    message = (
        f"From: someone@sender.example\r\nTo: {to}\r\nSubject: {subject}\r\n\r\n".encode() + body
    )
    with server.smtp() as client:
        client.ehlo("sender.example")
        client.sendmail("someone@sender.example", [to], message)


@pytest.fixture
def mail(server: RunningServer) -> RunningServer:
    """Alice's INBOX: a small message with dot lines, and one large enough for the file tier."""
    deliver(server, ALICE, "first", b"Hello.\r\n.leading dot\r\n.\r\nend\r\n")
    deliver(server, ALICE, "second", BIG_LINE * 2000)
    assert len(server.inbox(ALICE)) == 2
    return server


def connect(server: RunningServer) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    client.stls(context=client_tls())
    return client


def login(server: RunningServer, user: str = ALICE, password: str = ALICE_PASSWORD) -> poplib.POP3:
    client = connect(server)
    client.user(user)
    client.pass_(password)
    return client


def content(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\r\n" for line in lines)


def test_capa_before_and_after_stls(server: RunningServer) -> None:
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    assert client.getwelcome().startswith(b"+OK")
    caps = client.capa()
    assert "STLS" in caps
    assert "USER" not in caps  # no plaintext login offered (RFC 2595 §2.1)
    assert {"TOP", "UIDL", "RESP-CODES", "PIPELINING"} <= caps.keys()
    assert caps["IMPLEMENTATION"] == ["Roost"]
    client.stls(context=client_tls())
    caps = client.capa()
    assert "STLS" not in caps
    assert caps["SASL"] == ["PLAIN"]
    assert "USER" in caps
    client.quit()


def test_login_refused_before_stls(server: RunningServer) -> None:
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    with pytest.raises(poplib.error_proto, match="STLS"):
        client.user(ALICE)
    with pytest.raises(poplib.error_proto):
        client._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0a\0b").decode())
    client.quit()


def test_wrong_password_is_auth_error(server: RunningServer) -> None:
    client = connect(server)
    client.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("wrong")
    client.user("nobody@roost.test")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("wrong")
    client.quit()


def test_stat_list_uidl_top_retr_are_byte_exact(mail: RunningServer) -> None:
    stored = mail.inbox(ALICE)
    raw = [mail.message_bytes(m) for m in stored]
    box = mail.store.get_mailbox(ALICE, "INBOX")
    assert box is not None
    client = login(mail)
    assert client.stat() == (2, sum(len(r) for r in raw))
    _, listing, _ = client.list()
    assert listing == [f"{n} {len(r)}".encode() for n, r in enumerate(raw, 1)]
    assert client.list(2).split() == [b"+OK", b"2", str(len(raw[1])).encode()]
    _, uids, _ = client.uidl()
    assert uids == [f"{n} {box.uidvalidity}.{m.uid}".encode() for n, m in enumerate(stored, 1)]
    for n, expected in enumerate(raw, 1):
        _, lines, _ = client.retr(n)
        assert content(lines) == expected
    _, lines, _ = client.top(1, 0)
    head = raw[0][: raw[0].index(b"\r\n\r\n") + 4]
    assert content(lines) == head
    _, lines, _ = client.top(1, 2)
    assert content(lines) == head + b"Hello.\r\n.leading dot\r\n"
    with pytest.raises(poplib.error_proto):
        client.retr(3)
    assert client.noop().startswith(b"+OK")
    client.quit()


def test_auth_plain_initial_response_and_continuation(mail: RunningServer) -> None:
    token = base64.b64encode(f"\0{ALICE}\0{ALICE_PASSWORD}".encode()).decode()
    client = connect(mail)
    assert client._shortcmd("AUTH PLAIN " + token).startswith(b"+OK")
    assert client.stat()[0] == 2
    client.quit()
    client = connect(mail)
    client._putcmd("AUTH PLAIN")
    assert client._getline()[0] == b"+ "
    assert client._shortcmd(token).startswith(b"+OK")
    client.quit()
    client = connect(mail)
    bad = base64.b64encode(f"\0{ALICE}\0nope".encode()).decode()
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client._shortcmd("AUTH PLAIN " + bad)
    client.quit()


def test_dele_then_rset_keeps(mail: RunningServer) -> None:
    client = login(mail)
    client.dele(1)
    assert client.stat()[0] == 1
    with pytest.raises(poplib.error_proto):
        client.retr(1)
    client.rset()
    assert client.stat()[0] == 2
    client.quit()
    assert len(mail.inbox(ALICE)) == 2


def test_dele_then_quit_removes_and_uids_are_not_reused(mail: RunningServer) -> None:
    before = mail.inbox(ALICE)
    box = mail.store.get_mailbox(ALICE, "INBOX")
    assert box is not None
    client = login(mail)
    client.dele(1)
    client.dele(2)
    assert client.quit().startswith(b"+OK")
    assert mail.inbox(ALICE) == []
    after = mail.store.get_mailbox(ALICE, "INBOX")
    assert after is not None
    assert after.highestmodseq > box.highestmodseq
    for msg in before:  # nothing references the bodies any more: the blobs are gone
        assert not mail.blobs.exists(msg.blob)
    deliver(mail, ALICE, "third", b"again\r\n")
    (new,) = mail.inbox(ALICE)
    assert new.uid > max(m.uid for m in before)
    client = login(mail)
    _, uids, _ = client.uidl()
    assert uids == [f"1 {box.uidvalidity}.{new.uid}".encode()]
    client.quit()


def test_dropped_connection_deletes_nothing(mail: RunningServer) -> None:
    client = login(mail)
    client.dele(1)
    client.sock.close()
    deadline = time.monotonic() + 10
    while True:  # the server notices the drop and releases the maildrop
        client = connect(mail)
        client.user(ALICE)
        try:
            client.pass_(ALICE_PASSWORD)
            break
        except poplib.error_proto as exc:
            in_use = b"[IN-USE]" in exc.args[0]
            client.quit()
            assert in_use
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert client.stat()[0] == 2
    client.quit()
    assert len(mail.inbox(ALICE)) == 2


def test_second_session_is_in_use(mail: RunningServer) -> None:
    first = login(mail)
    second = connect(mail)
    second.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_(ALICE_PASSWORD)
    other = login(mail, BOB, BOB_PASSWORD)  # another user's maildrop is independent
    assert other.stat() == (0, 0)
    other.quit()
    first.quit()
    second.user(ALICE)
    second.pass_(ALICE_PASSWORD)  # free again after QUIT
    second.quit()


def test_pop3s_implicit_tls(mail: RunningServer) -> None:
    client = poplib.POP3_SSL("127.0.0.1", mail.port("pop3s"), context=client_tls(), timeout=30)
    assert "STLS" not in client.capa()
    client.user(ALICE)
    client.pass_(ALICE_PASSWORD)
    assert client.stat()[0] == 2
    client.quit()


def test_message_arriving_during_session_waits_for_next_login(mail: RunningServer) -> None:
    client = login(mail)
    deliver(mail, ALICE, "late", b"late\r\n")
    assert client.stat()[0] == 2  # RFC 1939: the maildrop is the snapshot taken at login
    client.quit()
    client = login(mail)
    assert client.stat()[0] == 3
    client.quit()


def test_too_many_errors_closes(server: RunningServer) -> None:
    client = connect(server)
    limit = server.config.limits.max_errors
    for _ in range(limit - 1):
        with pytest.raises(poplib.error_proto):
            client._shortcmd("BOGUS")
    with pytest.raises(poplib.error_proto, match="Too many errors"):
        client._shortcmd("BOGUS")
    with pytest.raises((EOFError, OSError, poplib.error_proto)):
        client._shortcmd("NOOP")
