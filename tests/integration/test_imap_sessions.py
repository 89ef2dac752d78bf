"""Several IMAP sessions on one mailbox (RFC 9051 §7.5.1, RFC 2177 IDLE, RFC 7162): each sees
the others' changes at the right moments, IDLE wakes on delivery, APPEND and changes made by
another process, and QRESYNC clients resynchronise exactly."""

from __future__ import annotations

import datetime as dt
import re
import select

from tests.integration.harness import ALICE, RunningServer
from tests.integration.imap_helpers import RawImap, deliver, make_message, status_of

IDLE_WAIT = 10.0  # seconds a test waits for an untagged update; the server needs about 1 s


def idle_until(raw: RawImap, prefix_re: bytes, wait: float = IDLE_WAIT) -> list[bytes]:
    """Read untagged lines while idling until one matches `prefix_re`."""
    lines: list[bytes] = []
    raw.sock.settimeout(wait)
    for _ in range(10_000):
        line = raw.readline()
        lines.append(line)
        if re.match(prefix_re, line):
            return lines
    raise AssertionError(lines)


def start_idle(raw: RawImap) -> None:
    raw.send(b"i1 IDLE\r\n")
    lines = raw.read_until(prefix=b"+ ")
    assert lines[-1].startswith(b"+ ")


def stop_idle(raw: RawImap) -> list[bytes]:
    raw.send(b"DONE\r\n")
    lines = raw.read_until(b"i1")
    assert status_of(lines) == b"OK"
    return lines


def test_idle_wakes_on_smtp_delivery(server: RunningServer) -> None:
    raw = RawImap(server)
    raw.command("SELECT INBOX")
    start_idle(raw)
    deliver(server, "while idling")
    assert idle_until(raw, rb"\* 1 EXISTS")
    deliver(server, "again")
    assert idle_until(raw, rb"\* 2 EXISTS")
    stop_idle(raw)
    raw.close()


def test_idle_wakes_on_append_and_flags_from_another_session(server: RunningServer) -> None:
    deliver(server, "one")
    watcher, writer = RawImap(server), RawImap(server)
    watcher.command("SELECT INBOX")
    writer.command("SELECT INBOX")
    start_idle(watcher)
    msg = make_message("appended")
    writer.send(b"w1 APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    assert status_of(writer.read_until(b"w1")) == b"OK"
    assert idle_until(watcher, rb"\* 2 EXISTS")
    writer.command("STORE 1 +FLAGS (\\Flagged)")
    lines = idle_until(watcher, rb"\* 1 FETCH")
    assert b"\\Flagged" in lines[-1]
    writer.command("STORE 2 +FLAGS (\\Deleted)")
    writer.command("EXPUNGE")
    idle_until(watcher, rb"\* 2 EXPUNGE")
    stop_idle(watcher)
    watcher.close()
    writer.close()


def test_idle_wakes_on_changes_made_by_another_process(server: RunningServer) -> None:
    """The CLI (or another node) writes to the store directly: the poller notices."""
    raw = RawImap(server)
    raw.command("SELECT INBOX")
    start_idle(raw)
    data = make_message("from the cli")
    ref = server.blobs.put(data)
    server.blobs.sync([ref])
    server.store.append_message(ALICE, "INBOX", ref, None, frozenset(), dt.datetime.now(dt.UTC))
    assert idle_until(raw, rb"\* 1 EXISTS")
    stop_idle(raw)
    raw.close()


def test_expunge_waits_for_a_command_that_may_report_it(server: RunningServer) -> None:
    """RFC 9051 §7.5.1: no EXPUNGE during FETCH/STORE/SEARCH; numbers stay valid till then."""
    for n in range(3):
        deliver(server, f"m{n}")
    a, b = RawImap(server), RawImap(server)
    a.command("SELECT INBOX")
    b.command("SELECT INBOX")
    b.command("STORE 1 +FLAGS (\\Deleted)")
    b.command("EXPUNGE")
    lines = a.command("FETCH 3 (UID)")
    assert not any(b"EXPUNGE" in x for x in lines)
    assert b"* 3 FETCH (UID 3)\r\n" in lines  # still numbered as before
    lines = a.command("NOOP")
    assert b"* 1 EXPUNGE\r\n" in lines
    lines = a.command("FETCH 2 (UID)")
    assert b"* 2 FETCH (UID 3)\r\n" in lines
    a.close()
    b.close()


def test_new_mail_is_announced_after_any_command(server: RunningServer) -> None:
    a = RawImap(server)
    a.command("SELECT INBOX")
    deliver(server, "new")
    lines = a.command("NOOP")
    assert b"* 1 EXISTS\r\n" in lines
    a.close()


def test_condstore_store_unchangedsince(server: RunningServer) -> None:
    deliver(server, "x")
    deliver(server, "y")
    raw = RawImap(server)
    lines = raw.command("SELECT INBOX (CONDSTORE)")
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", b"".join(lines)).group(1))  # type: ignore[union-attr]
    lines = raw.command("FETCH 1:* (FLAGS MODSEQ)")
    assert re.match(rb"\* 1 FETCH \(FLAGS \(\) MODSEQ \((\d+)\)\)", lines[0])
    lines = raw.command(f"STORE 1 (UNCHANGEDSINCE {modseq}) +FLAGS (\\Seen)")
    assert status_of(lines) == b"OK"
    new = int(re.search(rb"MODSEQ \((\d+)\)", lines[0]).group(1))  # type: ignore[union-attr]
    assert new > modseq
    lines = raw.command(f"STORE 1 (UNCHANGEDSINCE {modseq}) +FLAGS (\\Flagged)")
    assert b"[MODIFIED 1]" in lines[-1]
    lines = raw.command(f"FETCH 1:* (UID) (CHANGEDSINCE {modseq})")
    assert lines[0].startswith(b"* 1 FETCH (UID 1 MODSEQ (")
    assert len(lines) == 2
    lines = raw.command(f"SEARCH MODSEQ {new}")
    assert lines[0] == b"* SEARCH 1 (MODSEQ %d)\r\n" % new
    raw.close()


def test_qresync_reports_vanished_and_changed_flags(server: RunningServer) -> None:
    for n in range(4):
        deliver(server, f"q{n}")
    raw = RawImap(server)
    raw.command("ENABLE QRESYNC")
    lines = raw.command("SELECT INBOX")
    joined = b"".join(lines)
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", joined).group(1))  # type: ignore[union-attr]
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", joined).group(1))  # type: ignore[union-attr]
    raw.command("UNSELECT")
    other = RawImap(server)
    other.command("SELECT INBOX")
    other.command("STORE 2 +FLAGS (\\Deleted)")
    other.command("EXPUNGE")
    other.command("UID STORE 3 +FLAGS (\\Answered)")
    other.close()
    lines = raw.command(f"SELECT INBOX (QRESYNC ({uidvalidity} {modseq} 1:4))")
    assert b"* VANISHED (EARLIER) 2\r\n" in lines
    assert any(re.match(rb"\* 2 FETCH \(UID 3 FLAGS \(\\Answered\) MODSEQ", x) for x in lines)
    lines = raw.command(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
    assert lines[0] == b"* VANISHED (EARLIER) 2\r\n"
    raw.command("STORE 1 +FLAGS (\\Deleted)")
    lines = raw.command("EXPUNGE")
    assert lines[0] == b"* VANISHED 1\r\n"  # RFC 7162 §3.2.10: VANISHED replaces EXPUNGE
    raw.close()


def test_idle_session_costs_no_task_and_many_can_wait(server: RunningServer) -> None:
    """Twenty sessions IDLE at once and all hear of one delivery."""
    sessions = [RawImap(server) for _ in range(20)]
    for s in sessions:
        s.command("SELECT INBOX")
        start_idle(s)
    deliver(server, "broadcast")
    pending = list(sessions)
    for _ in range(100):
        if not pending:
            break
        ready, _, _ = select.select([s.sock for s in pending], [], [], IDLE_WAIT)
        assert ready, "some IDLE sessions never woke"
        for s in [p for p in pending if p.sock in ready]:
            assert idle_until(s, rb"\* 1 EXISTS")
            pending.remove(s)
    assert not pending
    for s in sessions:
        stop_idle(s)
        s.close()
