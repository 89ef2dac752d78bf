"""imapclient, a widely used Python IMAP library, against Roost's IMAP listener: STARTTLS with
the certificate verified, SELECT, FETCH, STORE, SEARCH, IDLE woken by an SMTP delivery, LOGOUT."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.clients.conftest import deliver, sqlite_only
from tests.integration.harness import ALICE, ALICE_PASSWORD, RunningServer

IDLE_WAIT = 30.0  # seconds an IDLE may take to report a delivery, at most


def tls(cert: Path) -> ssl.SSLContext:
    """Verify the server against exactly its own certificate (its SAN includes 127.0.0.1)."""
    return ssl.create_default_context(cafile=str(cert))


def connect(server: RunningServer, cert: Path) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=server.port("imap"), ssl=False, timeout=30)
    client.starttls(tls(cert))
    client.login(ALICE, ALICE_PASSWORD)
    return client


@sqlite_only
def test_login_refused_before_starttls(server: RunningServer, cert_file: Path) -> None:
    client = IMAPClient("127.0.0.1", port=server.port("imap"), ssl=False, timeout=30)
    caps = client.capabilities()
    assert b"STARTTLS" in caps
    assert b"LOGINDISABLED" in caps  # RFC 9051 §6.2.3: no LOGIN in the clear
    with pytest.raises(LoginError):
        client.login(ALICE, ALICE_PASSWORD)
    client.starttls(tls(cert_file))
    assert b"LOGINDISABLED" not in client.capabilities()
    client.login(ALICE, ALICE_PASSWORD)
    client.logout()


def test_select_fetch_store_search(server: RunningServer, cert_file: Path) -> None:
    sent = [deliver(server, ALICE, f"imapclient {i}") for i in range(3)]
    stored = server.inbox(ALICE)
    with connect(server, cert_file) as client:
        info = client.select_folder("INBOX")
        assert info[b"EXISTS"] == 3
        uids = client.search(["ALL"])
        assert uids == [m.uid for m in stored]
        data = client.fetch(uids, ["FLAGS", "RFC822.SIZE", "BODY.PEEK[]", "ENVELOPE"])
        for m, s in zip(stored, sent, strict=True):
            item = data[m.uid]
            assert item[b"BODY[]"] == server.message_bytes(m)
            assert item[b"RFC822.SIZE"] == m.size
            assert item[b"ENVELOPE"].message_id == s.message_id.encode()
            assert item[b"ENVELOPE"].subject == s.subject.encode()
            assert item[b"FLAGS"] == ()
        first, second, _ = uids
        client.add_flags([first], [b"\\Seen", b"\\Flagged"])
        client.add_flags([second], [b"$Label1"])
        assert client.search(["UNSEEN"]) == uids[1:]
        assert client.search(["FLAGGED"]) == [first]
        assert client.search(["KEYWORD", "$Label1"]) == [second]
        assert client.search(["SUBJECT", "imapclient 2"]) == [uids[2]]
        assert client.search(["FROM", "someone@sender.example"]) == uids
        client.remove_flags([first], [b"\\Flagged"])
        assert set(client.get_flags([first])[first]) == {b"\\Seen"}
        client.delete_messages([second])
        client.expunge()
        assert client.search(["ALL"]) == [first, uids[2]]
        client.logout()
    by_uid = {m.uid: m for m in server.inbox(ALICE)}
    assert set(by_uid) == {first, uids[2]}
    assert by_uid[first].flags == frozenset({"\\Seen"})


def test_idle_sees_new_delivery(server: RunningServer, cert_file: Path) -> None:
    deliver(server, ALICE, "before idle")
    with connect(server, cert_file) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
        client.idle()
        deliver(server, ALICE, "during idle")
        responses: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + IDLE_WAIT
        while time.monotonic() < deadline and (2, b"EXISTS") not in responses:
            responses += client.idle_check(timeout=1)
        client.idle_done()
        assert (2, b"EXISTS") in responses, responses
        assert len(client.search(["ALL"])) == 2
        client.logout()


@sqlite_only
def test_folders_append_copy_move(server: RunningServer, cert_file: Path) -> None:
    deliver(server, ALICE, "to be moved")
    with connect(server, cert_file) as client:
        names = {name for _flags, _delim, name in client.list_folders()}
        assert {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"} <= names
        assert client.find_special_folder(b"\\Sent") == "Sent"
        client.create_folder("Projects/Roost")
        client.append("Projects/Roost", b"Subject: appended\r\n\r\nhello\r\n", [b"\\Seen"])
        client.select_folder("INBOX")
        (uid,) = client.search(["ALL"])
        client.copy([uid], "Archive")
        client.move([uid], "Trash")
        assert client.search(["ALL"]) == []
        status = client.folder_status("Trash", [b"MESSAGES", b"UIDNEXT"])
        assert status[b"MESSAGES"] == 1
        client.logout()
    assert len(server.inbox(ALICE, "Projects/Roost")) == 1
    assert len(server.inbox(ALICE, "Archive")) == 1
    assert len(server.inbox(ALICE, "Trash")) == 1
