"""The node's memo (imap/memo.py) answers header FETCH, RFC822.SIZE and header SEARCH exactly
as the store does: filled by a first command, partly kept, disabled (`imap.cache_size = 0`),
and after other sessions change the mailbox. On both backends, through real IMAP sessions."""

from __future__ import annotations

import re

import pytest

from roost.config import RoostConfig
from tests.integration.harness import RunningServer, running_server
from tests.integration.imap_helpers import RawImap, deliver, status_of
from tests.integration.test_imap_headers import BLOBS, FETCHES, SEARCHES, _store

_INTERNALDATE = re.compile(rb" INTERNALDATE \"[^\"]*\"")
_GENERAL = " INTERNALDATE"  # an item not in a header row: the general path, which reads bodies
EXTRA_FETCHES = [
    "UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID)]",
    'BODY.PEEK[HEADER.FIELDS ("x-%d" SUBJECT)]',  # a % in the label
]


def _fill(server: RunningServer) -> None:
    deliver(server, "delivered carol")  # a message with a prefix (Received, ...)
    for kind in range(3):
        for blob in BLOBS:
            _store(server, blob + b"\r\n" * kind, kind)


def _compare_all(raw: RawImap) -> None:
    """Each FETCH and SEARCH three times (the first may fill the memo) against the general
    path."""
    for items in FETCHES + EXTRA_FETCHES:
        general = raw.command(f"FETCH 1:* ({items}{_GENERAL})")
        slow = [_INTERNALDATE.sub(b"", ln) for ln in general]
        for _ in range(3):
            fast = raw.command(f"FETCH 1:* ({items})")
            assert status_of(fast) == b"OK", items
            assert fast[:-1] == slow[:-1], items
    for text in SEARCHES:
        slow = raw.command(f"UID SEARCH {text} SINCE 1-Jan-1990".encode())
        assert status_of(slow) == b"OK", text
        for _ in range(3):
            assert raw.command(f"UID SEARCH {text}".encode())[:-1] == slow[:-1], text


def test_memo_answers_equal_the_store(server: RunningServer) -> None:
    _fill(server)
    raw = RawImap(server)
    raw.command("SELECT INBOX")
    memo = server.server.imap_memo
    selected = memo.groups  # the view SELECT keeps
    _compare_all(raw)
    assert memo.groups >= selected + len(FETCHES)
    assert 0 < memo.octets <= memo.budget
    raw.close()


@pytest.fixture
def no_memo_server(config: RoostConfig):  # type: ignore[no-untyped-def]
    config.imap.cache_size = 0
    with running_server(config) as running:
        yield running


def test_without_a_memo_the_answers_are_the_same(no_memo_server: RunningServer) -> None:
    _fill(no_memo_server)
    raw = RawImap(no_memo_server)
    raw.command("SELECT INBOX")
    _compare_all(raw)
    assert no_memo_server.server.imap_memo.groups == 0
    raw.close()


def test_a_tiny_memo_keeps_little_and_answers_the_same(config: RoostConfig) -> None:
    config.imap.cache_size = 600  # a few entries: groups come and go between commands
    with running_server(config) as server:
        _fill(server)
        raw = RawImap(server)
        raw.command("SELECT INBOX")
        _compare_all(raw)
        assert server.server.imap_memo.octets <= 600
        raw.close()


def test_memo_after_other_sessions_change_the_mailbox(server: RunningServer) -> None:
    for n in range(4):
        deliver(server, f"message {n} from carol")
    first, other = RawImap(server), RawImap(server)
    first.command("SELECT INBOX")
    fetch = "FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
    before = first.command(fetch)
    assert status_of(before) == b"OK"
    assert len(before) == 5
    assert first.command('UID SEARCH SUBJECT "carol"')[0] == b"* SEARCH 1 2 3 4\r\n"
    # Another session expunges message 2 and a fifth message arrives.
    other.command("SELECT INBOX")
    other.command("STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert status_of(other.command("EXPUNGE")) == b"OK"
    deliver(server, "message 4 from carol")
    # FETCH may not report the expunge (RFC 9051 §7.5.1): message 2 keeps its number and its
    # kept header still answers. FETCH does not add the new message to this session's view.
    lines = first.command(fetch)
    assert b" EXPUNGE" not in b"".join(lines)
    assert lines[:-1] == before[:-1]
    # SEARCH may report the new message first (EXISTS); it is read and joins the kept ones.
    found = first.command('UID SEARCH SUBJECT "message 4"')
    assert found[:2] == [b"* 5 EXISTS\r\n", b"* SEARCH 5\r\n"]
    assert b"* 2 EXPUNGE\r\n" in first.command("NOOP")
    after = first.command(fetch)
    assert [ln.split(b" ")[1] for ln in after[:-1]] == [b"1", b"2", b"3", b"4"]
    assert b"UID 5 " in after[3]
    assert b"message 4 from carol" in after[3]
    assert first.command('SEARCH SUBJECT "carol"')[0] == b"* SEARCH 1 2 3 4\r\n"
    first.close()
    other.close()


def _append(raw: RawImap, message: bytes) -> None:
    assert status_of(raw.command(b"APPEND Box {%d+}\r\n" % len(message) + message)) == b"OK"


def test_a_recreated_mailbox_is_not_answered_from_the_memo(server: RunningServer) -> None:
    raw = RawImap(server)
    fetch = "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
    raw.command("CREATE Box")
    _append(raw, b"Subject: first incarnation\r\n\r\nbody\r\n")
    raw.command("SELECT Box")
    assert b"first incarnation" in raw.command(fetch)[0]
    assert raw.command("SEARCH SUBJECT first")[0] == b"* SEARCH 1\r\n"
    raw.command("UNSELECT")
    raw.command("DELETE Box")
    raw.command("CREATE Box")
    _append(raw, b"Subject: second incarnation\r\n\r\nbody\r\n")
    raw.command("SELECT Box")
    assert b"second incarnation" in raw.command(fetch)[0]
    assert raw.command("SEARCH SUBJECT first")[0] == b"* SEARCH\r\n"
    raw.close()


def test_fetch_all_uid_flags_equals_the_general_path(server: RunningServer) -> None:
    for n in range(5):
        deliver(server, f"m{n}")
    raw = RawImap(server)
    raw.command("SELECT INBOX")
    raw.command("STORE 2,4 +FLAGS (\\Seen $Label)")
    raw.command("STORE 3 +FLAGS (\\Flagged)")
    fast = raw.command("FETCH 1:* (UID FLAGS)")
    general = raw.command("FETCH 1:5 (FLAGS UID)")  # another item order: the general path
    swapped = [re.sub(rb"\((FLAGS \([^)]*\)) (UID \d+)\)", rb"(\2 \1)", ln) for ln in general]
    assert fast[:-1] == swapped[:-1]
    assert len(fast) == 6
    assert raw.command("UID FETCH 1:* FLAGS")[:-1] == fast[:-1]
    assert raw.command("SEARCH UNSEEN")[0] == b"* SEARCH 1 3 5\r\n"
    assert raw.command("UID SEARCH SEEN")[0] == b"* SEARCH 2 4\r\n"
    raw.close()


def _state(raw: RawImap) -> list[bytes]:
    """What a client learns of the selected mailbox: the SELECT data and every message's flags."""
    selected = [ln for ln in raw.command("SELECT INBOX") if not ln.startswith(b"* OK [HIGHEST")]
    return selected[:-1] + raw.command("UID FETCH 1:* (FLAGS)")[:-1]


def test_a_kept_view_serves_select_only_while_nothing_changed(server: RunningServer) -> None:
    for n in range(6):
        deliver(server, f"m{n}")
    raw, other = RawImap(server), RawImap(server)
    raw.command("SELECT INBOX")
    raw.command("STORE 1:3 +FLAGS (\\Seen)")
    first = _state(raw)
    assert b"* OK [UNSEEN 4] First unseen\r\n" in first
    assert _state(raw) == first  # unchanged: the kept view answers, the same
    # Each kind of change elsewhere shows at the next SELECT.
    other.command("SELECT INBOX")
    other.command("STORE 4 +FLAGS (\\Seen $Done)")
    after_flags = _state(raw)
    assert b"* OK [UNSEEN 5] First unseen\r\n" in after_flags
    assert b"* 4 FETCH (UID 4 FLAGS ($Done \\Seen))\r\n" in after_flags
    other.command("STORE 2 +FLAGS.SILENT (\\Deleted)")
    other.command("EXPUNGE")
    after_expunge = _state(raw)
    assert b"* 5 EXISTS\r\n" in after_expunge
    assert b"UID 2 " not in b"".join(after_expunge)
    deliver(server, "m6")
    after_delivery = _state(raw)
    assert b"* 6 EXISTS\r\n" in after_delivery
    assert after_delivery[-1] == b"* 6 FETCH (UID 7 FLAGS ())\r\n"
    # EXAMINE of the same unchanged mailbox is read-only, SELECT read-write again.
    examined = raw.command("EXAMINE INBOX")
    assert examined[-1].endswith(b"[READ-ONLY] EXAMINE completed\r\n")
    assert status_of(raw.command("STORE 1 +FLAGS (\\Flagged)")) == b"NO"
    assert raw.command("SELECT INBOX")[-1].endswith(b"[READ-WRITE] SELECT completed\r\n")
    assert status_of(raw.command("STORE 1 +FLAGS (\\Flagged)")) == b"OK"
    # The other session, selecting again, sees the change this one made.
    assert b"\\Flagged" in b"".join(_state(other))
    raw.close()
    other.close()


def test_no_unseen_code_when_every_message_is_seen(server: RunningServer) -> None:
    for n in range(3):
        deliver(server, f"m{n}")
    raw = RawImap(server)
    raw.command("SELECT INBOX")
    raw.command("STORE 1:* +FLAGS (\\Seen)")
    for _ in range(2):
        assert not any(b"[UNSEEN" in ln for ln in raw.command("SELECT INBOX"))
    raw.close()
