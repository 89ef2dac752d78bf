"""The IMAP server over real sockets: login rules, every command family, on both backends."""

from __future__ import annotations

import base64
import imaplib
import re

import pytest

from tests.integration.harness import ALICE, ALICE_PASSWORD, BOB, RunningServer, client_tls
from tests.integration.imap_helpers import (
    RawImap,
    deliver,
    imap_login,
    imaps_login,
    make_message,
    ok,
    status_of,
)


# --- login rules -------------------------------------------------------------------------------
def test_login_is_refused_before_starttls(server: RunningServer) -> None:
    client = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
    assert "LOGINDISABLED" in client.capabilities
    assert "STARTTLS" in client.capabilities
    assert "AUTH=PLAIN" not in client.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        client.login(ALICE, ALICE_PASSWORD)
    client.starttls(ssl_context=client_tls())
    assert "AUTH=PLAIN" in client.capabilities
    assert "LOGINDISABLED" not in client.capabilities
    ok(client.login(ALICE, ALICE_PASSWORD))
    assert "IDLE" in client.capabilities or ok(client.capability())
    client.logout()


def test_implicit_tls_and_wrong_password(server: RunningServer) -> None:
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imaps_login(server, ALICE, "wrong")
    client = imaps_login(server)
    assert ok(client.noop())
    client.logout()


def test_authenticate_plain_with_and_without_initial_response(server: RunningServer) -> None:
    raw = RawImap(server, login=False)
    token = base64.b64encode(f"\0{ALICE}\0{ALICE_PASSWORD}".encode()).decode()
    lines = raw.command(f"AUTHENTICATE PLAIN {token}")
    assert status_of(lines) == b"OK"
    assert b"[CAPABILITY" in lines[-1]
    raw.close()
    raw = RawImap(server, login=False)
    raw.send(b"a1 AUTHENTICATE PLAIN\r\n")
    assert raw.readline().startswith(b"+")
    raw.send(token.encode() + b"\r\n")
    assert status_of(raw.read_until(b"a1")) == b"OK"
    raw.send(b"a2 AUTHENTICATE PLAIN\r\n")  # already authenticated: wrong state
    assert status_of(raw.read_until(b"a2")) == b"BAD"
    raw.close()
    raw = RawImap(server, login=False)
    raw.send(b"a1 AUTHENTICATE PLAIN\r\n")
    raw.readline()
    raw.send(b"*\r\n")  # RFC 9051 §6.2.2: the client cancels
    assert status_of(raw.read_until(b"a1")) == b"BAD"
    raw.close()


def test_commands_in_the_wrong_state_and_garbage_get_bad(server: RunningServer) -> None:
    raw = RawImap(server, login=False)
    assert status_of(raw.command("SELECT INBOX")) == b"BAD"
    assert status_of(raw.command("FETCH 1 FLAGS")) == b"BAD"
    raw.send(b"\x00\xff garbage\r\n")
    assert raw.readline().startswith(b"* BAD")
    assert status_of(raw.command("NOOP")) == b"OK"
    raw.close()
    raw = RawImap(server)
    assert status_of(raw.command("FETCH 1 FLAGS")) == b"BAD"  # nothing selected
    assert status_of(raw.command("UNKNOWNCMD x")) == b"BAD"
    raw.close()


def test_too_many_errors_end_the_connection(server: RunningServer) -> None:
    raw = RawImap(server)
    for _ in range(server.config.limits.max_errors):
        assert status_of(raw.command("BOGUS")) == b"BAD"
    assert raw.readline().startswith(b"* BYE")
    with pytest.raises((ConnectionError, OSError)):
        raw.readline()


# --- reading mail -----------------------------------------------------------------------------
def test_delivered_mail_is_read_with_imaplib(server: RunningServer) -> None:
    deliver(server, "first")
    deliver(server, "second")
    client = imap_login(server)
    assert ok(client.select("INBOX")) == [b"2"]
    data = ok(client.fetch("1:*", "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)"))
    assert len(data) == 2
    first = data[0]
    assert isinstance(first, bytes)
    assert b'"first"' in first
    assert b'("text" "plain" ("charset" "utf-8")' in first
    data = ok(client.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    assert data[0][1] == b"Subject: second\r\n\r\n"  # type: ignore[index]
    assert ok(client.search(None, "UNSEEN")) == [b"1 2"]
    data = ok(client.fetch("2", "(BODY[TEXT])"))  # sets \Seen, and says so
    assert data[0][1] == b"Hello.\r\n"  # type: ignore[index]
    assert b"\\Seen" in data[1]  # type: ignore[operator]
    assert ok(client.search(None, "SEEN")) == [b"2"]
    assert ok(client.uid("SEARCH", "SUBJECT", "first")) == [b"1"]
    data = ok(client.fetch("1", "(BODY.PEEK[])"))
    stored = server.store.get_message(ALICE, "INBOX", 1)
    assert stored is not None
    assert data[0][1] == server.message_bytes(stored)  # type: ignore[index]
    client.logout()


def test_store_expunge_close_and_examine(server: RunningServer) -> None:
    for n in range(4):
        deliver(server, f"m{n}")
    client = imap_login(server)
    ok(client.select("INBOX"))
    data = ok(client.store("1:2", "+FLAGS", "(\\Deleted $Label1)"))
    assert len(data) == 2
    assert b"$Label1" in data[0]
    ok(client.store("2", "-FLAGS.SILENT", "(\\Deleted)"))
    assert ok(client.expunge()) == [b"1"]
    assert ok(client.search(None, "KEYWORD", "$Label1")) == [b"1"]
    ok(client.store("1", "FLAGS", "(\\Deleted)"))
    ok(client.close())  # expunges silently
    assert ok(client.select("INBOX", readonly=True)) == [b"2"]
    typ, _ = client.store("1", "+FLAGS", "(\\Seen)")
    assert typ == "NO"  # EXAMINE is read-only
    ok(client.fetch("1", "(BODY[])"))  # and does not set \Seen
    assert ok(client.search(None, "SEEN")) in ([None], [b""])
    client.logout()
    assert [m.uid for m in server.store.list_messages(ALICE, "INBOX")] == [3, 4]


def test_append_copy_move_with_uidplus(server: RunningServer) -> None:
    client = imap_login(server)
    message = make_message("appended")
    typ, data = client.append("Drafts", "(\\Draft \\Seen)", None, message)
    assert typ == "OK"
    match = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])  # type: ignore[arg-type]
    assert match is not None
    assert match.group(2) == b"1"
    drafts = server.store.get_mailbox(ALICE, "Drafts")
    assert drafts is not None
    assert int(match.group(1)) == drafts.uidvalidity
    stored = server.store.get_message(ALICE, "Drafts", 1)
    assert stored is not None
    assert server.message_bytes(stored) == message
    assert stored.flags == frozenset({"\\Draft", "\\Seen"})
    typ, _ = client.append("Nope", None, None, message)
    assert typ == "NO"
    ok(client.select("Drafts"))
    typ, data = client.copy("1", "Nope")
    assert typ == "NO"
    assert b"[TRYCREATE]" in data[0]
    typ, data = client.copy("1", "Trash")
    assert typ == "OK"
    assert b"[COPYUID" in data[0]
    typ, data = client.uid("MOVE", "1", "Archive")
    assert typ == "OK"
    assert server.store.list_messages(ALICE, "Drafts") == []
    assert len(server.store.list_messages(ALICE, "Archive")) == 1
    assert len(server.store.list_messages(ALICE, "Trash")) == 1
    client.logout()


def test_multiappend_and_literal_plus(server: RunningServer) -> None:
    raw = RawImap(server)
    one, two = make_message("one"), make_message("two")
    raw.send(b"a1 APPEND INBOX (\\Seen) {%d+}\r\n" % len(one) + one)
    raw.send(b" {%d+}\r\n" % len(two) + two + b"\r\n")  # RFC 3502 MULTIAPPEND
    lines = raw.read_until(b"a1")
    assert status_of(lines) == b"OK"
    assert b"[APPENDUID" in lines[-1]
    assert b" 1:2]" in lines[-1]
    subjects = [server.message_bytes(m) for m in server.store.list_messages(ALICE, "INBOX")]
    assert subjects == [one, two]
    raw.send(b"a2 APPEND INBOX {%d}\r\n" % len(one))  # synchronising literal
    assert raw.readline().startswith(b"+ ")
    raw.send(one + b"\r\n")
    assert status_of(raw.read_until(b"a2")) == b"OK"
    raw.close()


def test_search_esearch_and_searchres(server: RunningServer) -> None:
    for n in range(5):
        deliver(server, f"s{n}")
    raw = RawImap(server)
    raw.command("SELECT INBOX")
    raw.command("STORE 2,4 +FLAGS (\\Flagged)")
    lines = raw.command("SEARCH RETURN (MIN MAX COUNT) FLAGGED")
    assert any(b"ESEARCH" in x and b"MIN 2 MAX 4 COUNT 2" in x for x in lines), lines
    lines = raw.command("UID SEARCH RETURN (SAVE) UNFLAGGED")
    assert status_of(lines) == b"OK"
    assert not any(b"ESEARCH" in x for x in lines)
    lines = raw.command("UID FETCH $ (UID)")
    assert sorted(re.findall(rb"UID (\d+)", b"".join(lines))) == [b"1", b"3", b"5"]
    lines = raw.command("SEARCH OR SUBJECT s1 SUBJECT s3")
    assert b"* SEARCH 2 4\r\n" in lines
    lines = raw.command("SEARCH CHARSET UTF-8 FROM carol NOT SUBJECT s0")
    assert b"* SEARCH 2 3 4 5\r\n" in lines
    assert status_of(raw.command("SEARCH CHARSET KOI8-R ALL")) == b"NO"
    raw.close()


def test_binary_and_sections(server: RunningServer) -> None:
    raw = RawImap(server)
    mime = (
        b"From: a@b.example\r\nSubject: att\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="xx"\r\n\r\n'
        b"--xx\r\nContent-Type: text/plain\r\n\r\nbody text\r\n"
        b"--xx\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"\x00\x01bin") + b"\r\n"
        b"--xx--\r\n"
    )
    raw.send(b"a1 APPEND INBOX {%d+}\r\n" % len(mime) + mime + b"\r\n")
    assert status_of(raw.read_until(b"a1")) == b"OK"
    raw.command("SELECT INBOX")
    lines = raw.command("FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[1] BODY.PEEK[2.MIME])")
    joined = b"".join(lines)
    assert b"BINARY[2] ~{5}\r\n\x00\x01bin" in joined
    assert b"BINARY.SIZE[2] 5" in joined
    assert b"BODY[1] {9}\r\nbody text" in joined
    assert b"Content-Transfer-Encoding: base64" in joined
    lines = raw.command("FETCH 1 (BODY.PEEK[]<0.4>)")
    assert b"BODY[]<0> {4}\r\nFrom" in b"".join(lines)
    lines = raw.command("FETCH 1 BODYSTRUCTURE")
    assert b'"mixed" ("boundary" "xx")' in b"".join(lines)
    raw.close()


# --- mailboxes -----------------------------------------------------------------------------------
def test_list_create_rename_delete_subscribe(server: RunningServer) -> None:
    raw = RawImap(server)
    assert status_of(raw.command("CREATE Work/Projects/2026")) == b"OK"
    lines = raw.command('LIST "" "Work/%"')
    assert lines[0] == b'* LIST (\\HasChildren) "/" Work/Projects\r\n'
    lines = raw.command('LIST "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UIDNEXT))')
    assert b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n' in lines
    assert b"* STATUS Sent (MESSAGES 0 UIDNEXT 1)\r\n" in lines
    lines = raw.command('LIST (SPECIAL-USE) "" "*"')
    assert len(lines) == 6  # Sent Drafts Trash Junk Archive + tagged
    assert status_of(raw.command("CREATE Work")) == b"NO"  # exists (created as a parent)
    assert b"[ALREADYEXISTS]" in raw.command("CREATE INBOX")[-1]
    assert b"[INUSE]" in raw.command("DELETE Work")[-1]  # has children
    assert status_of(raw.command("RENAME Work/Projects Play")) == b"OK"
    assert b'"/" Play/2026' in b"".join(raw.command('LIST "" "Play/*"'))
    assert status_of(raw.command("SUBSCRIBE Play")) == b"OK"
    lines = raw.command('LSUB "" "P*"')
    assert lines[0] == b'* LSUB () "/" Play\r\n'
    lines = raw.command('LIST (SUBSCRIBED) "" "Play"')
    assert b"\\Subscribed" in lines[0]
    assert status_of(raw.command("DELETE Play/2026")) == b"OK"
    assert status_of(raw.command("DELETE Play")) == b"OK"
    assert b"[NONEXISTENT]" in raw.command("DELETE Play")[-1]
    assert status_of(raw.command("CREATE Receipts (USE (\\Archive))")) == b"OK"
    assert b"\\Archive" in raw.command('LIST "" Receipts')[0]
    assert b"[USEATTR]" in raw.command("CREATE Odd (USE (\\Inbox))")[-1]
    lines = raw.command('LIST "" ""')
    assert lines[0] == b'* LIST (\\Noselect) "/" ""\r\n'
    raw.close()


def test_modified_utf7_and_utf8_names(server: RunningServer) -> None:
    raw = RawImap(server)
    assert status_of(raw.command("CREATE &AMQ-pfel")) == b"OK"  # "Äpfel" in modified UTF-7
    assert server.store.get_mailbox(ALICE, "Äpfel") is not None
    assert b"&AMQ-pfel" in raw.command('LIST "" "&AMQ-*"')[0]
    raw.command("ENABLE IMAP4rev2")
    assert "Äpfel".encode() in raw.command('LIST "" "*pfel"')[0]
    raw.close()


def test_rename_inbox_moves_its_messages(server: RunningServer) -> None:
    deliver(server, "old")
    raw = RawImap(server)
    assert status_of(raw.command("RENAME INBOX Old-Inbox")) == b"OK"
    assert len(server.store.list_messages(ALICE, "Old-Inbox")) == 1
    assert server.store.list_messages(ALICE, "INBOX") == []
    raw.close()


def test_status_namespace_id_enable_unselect(server: RunningServer) -> None:
    deliver(server, "x")
    raw = RawImap(server)
    lines = raw.command("STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY SIZE DELETED)")
    box = server.store.get_mailbox(ALICE, "INBOX")
    assert box is not None
    assert re.match(
        rb"\* STATUS INBOX \(MESSAGES 1 UNSEEN 1 UIDNEXT 2 UIDVALIDITY %d SIZE \d+ DELETED 0\)"
        % box.uidvalidity,
        lines[0],
    )
    assert raw.command("NAMESPACE")[0] == b'* NAMESPACE (("" "/")) NIL NIL\r\n'
    assert raw.command('ID ("name" "test")')[0].startswith(b'* ID ("name" "Roost"')
    assert raw.command("ENABLE CONDSTORE X-UNKNOWN")[0] == b"* ENABLED CONDSTORE\r\n"
    raw.command("SELECT INBOX")
    assert status_of(raw.command("UNSELECT")) == b"OK"
    assert status_of(raw.command("FETCH 1 FLAGS")) == b"BAD"
    lines = raw.command("LOGOUT")
    assert lines[0].startswith(b"* BYE")
    assert status_of(lines) == b"OK"
    raw.close()


def test_quota_is_enforced_at_append(server: RunningServer) -> None:
    server.store.set_quota(ALICE, 4096)
    raw = RawImap(server)
    lines = raw.command("GETQUOTAROOT INBOX")
    assert lines[0] == b'* QUOTAROOT INBOX ""\r\n'
    assert lines[1] == b'* QUOTA "" (STORAGE 0 4)\r\n'
    small = make_message("small")
    raw.send(b"a1 APPEND INBOX {%d+}\r\n" % len(small) + small + b"\r\n")
    assert status_of(raw.read_until(b"a1")) == b"OK"
    big = make_message("big", "x" * 5000)
    raw.send(b"a2 APPEND INBOX {%d+}\r\n" % len(big) + big + b"\r\n")
    lines = raw.read_until(b"a2")
    assert status_of(lines) == b"NO"
    assert b"[OVERQUOTA]" in lines[-1]
    assert raw.command('GETQUOTA ""')[0].startswith(b'* QUOTA "" (STORAGE 1 4)')
    raw.close()
    raw = RawImap(server, user=BOB, password="bob-secret-pw")
    assert raw.command("GETQUOTAROOT INBOX")[0] == b"* QUOTAROOT INBOX\r\n"  # no limit
    raw.close()


def test_fetch_streams_a_large_mailbox(server: RunningServer) -> None:
    """More messages than one chunk: every one answered once, in order, bodies never read."""
    body = make_message("bulk")
    ref = server.blobs.put(body)
    server.blobs.sync([ref])
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    for _ in range(1200):
        server.store.append_message(ALICE, "Archive", ref, None, frozenset(), now)
    raw = RawImap(server)
    raw.command("SELECT Archive")
    lines = raw.command("FETCH 1:* (UID FLAGS)")
    assert len(lines) == 1201
    assert status_of(lines) == b"OK"
    assert lines[0] == b"* 1 FETCH (UID 1 FLAGS ())\r\n"
    assert lines[1199] == b"* 1200 FETCH (UID 1200 FLAGS ())\r\n"
    lines = raw.command("STORE 1:* +FLAGS.SILENT (\\Seen)")
    assert lines == [lines[-1]]
    assert status_of(lines) == b"OK"
    assert len(raw.command("UID SEARCH SEEN")[0].split()) == 1202
    raw.close()


def test_quota_is_enforced_at_smtp_delivery(server: RunningServer) -> None:
    """A full mailbox refuses RCPT with 452 4.2.2 (RFC 3463 §3.3), others still get mail."""
    import asyncio
    import smtplib

    deliver(server, "fills it")
    server.store.set_quota(ALICE, 100)
    asyncio.run_coroutine_threadsafe(server.server.quota.refresh(), server.loop).result(30)
    with smtplib.SMTP("127.0.0.1", server.port("mx"), timeout=30) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("carol@remote.example")
        code, text = smtp.rcpt(ALICE)
        assert (code, text[:5]) == (452, b"4.2.2")
        assert smtp.rcpt(BOB)[0] == 250
    raw = RawImap(server)
    lines = raw.command('GETQUOTA ""')
    assert lines[0].startswith(b'* QUOTA "" (STORAGE 1 0)')
    raw.close()


def test_input_pipelined_after_starttls_is_discarded(server: RunningServer) -> None:
    """RFC 9051 §11.1 (command injection): plaintext after STARTTLS is never executed."""
    import socket

    sock = socket.create_connection(("127.0.0.1", server.port("imap")), timeout=30)
    file = sock.makefile("rb")
    assert file.readline().startswith(b"* OK")
    sock.sendall(b"a STARTTLS\r\nb LOGOUT\r\n")
    assert file.readline().startswith(b"a OK")
    tls = client_tls().wrap_socket(sock)
    tls_file = tls.makefile("rb")
    tls.sendall(b"c NOOP\r\n")
    assert tls_file.readline().startswith(b"c OK")  # "b LOGOUT" was dropped
    tls.close()


def test_random_input_never_takes_the_server_down(server: RunningServer) -> None:
    """Junk of every shape after login gets BAD or NO, and the session still works."""
    import random

    rng = random.Random(4)
    words = [b"FETCH", b"UID", b"STORE", b"SEARCH", b"(", b")", b"[", b"]", b"{3}", b"{2+}",
             b"1:*", b"$", b"*", b"\"", b"\\", b"BODY[", b"INBOX", b"NIL", b"~{1}", b"\x00",
             b"\xff", b"%", b"<0.5>", b"SELECT", b"APPEND", b"LIST", b"MOVE"]  # fmt: skip
    for _ in range(12):  # a fresh session each time: 10 errors end one (max_errors)
        raw = RawImap(server)
        raw.command("SELECT INBOX")
        for _ in range(5):
            line = b" ".join(rng.choice(words) for _ in range(rng.randint(1, 8)))
            if b"{" in line:
                continue  # a literal would swallow the next command; parser tests cover them
            lines = raw.command(line)
            assert status_of(lines) in (b"OK", b"NO", b"BAD"), (line, lines)
        assert status_of(raw.command("NOOP")) == b"OK"
        raw.close()


def test_header_fields_of_a_header_longer_than_the_head_read(server: RunningServer) -> None:
    """Header-only FETCH reads a body's first octets; a longer header is read whole."""
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"y" * 60) for n in range(120))  # ~8 KB
    msg = b"From: a@b.example\r\n" + filler + b"Subject: at the end\r\n\r\nbody\r\n"
    raw = RawImap(server)
    raw.send(b"a1 APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    assert status_of(raw.read_until(b"a1")) == b"OK"
    raw.command("SELECT INBOX")
    lines = raw.command("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)] RFC822.HEADER)")
    joined = b"".join(lines)
    assert b"From: a@b.example\r\nSubject: at the end\r\n\r\n" in joined
    assert b"X-Filler-119" in joined  # RFC822.HEADER: the whole header
    assert b"body" not in joined
    assert b"* SEARCH 1" in b"".join(raw.command('SEARCH SUBJECT "at the end"'))
    raw.close()
