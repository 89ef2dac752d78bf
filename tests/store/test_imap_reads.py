"""Schema 5 on both backends: message structures, the IMAP session's reads, quota counters."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from roost.message.wire import compute_structure
from roost.store.interface import NotFound, Store, StoreError
from roost.store.types import BlobRef, MessageStructure, QuotaUsage, StoredMessage
from tests.store.conftest import local, message, remote

ALICE = "alice@example.org"
BOB = "bob@example.org"
WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def body(text: str) -> tuple[BlobRef, bytes]:
    data = f"From: a@remote.test\r\nSubject: {text}\r\n\r\n{text}\r\n".encode()
    return BlobRef(hashlib.sha256(data).hexdigest(), len(data)), data


def append(store: Store, mailbox: str, text: str, *flags: str, user: str = ALICE) -> StoredMessage:
    ref, data = body(text)
    return store.append_message(user, mailbox, ref, data, frozenset(flags), WHEN)


def real_usage(store: Store, user: str) -> tuple[int, int]:
    msgs = [m for b in store.list_mailboxes(user) for m in store.list_messages(user, b.name)]
    return sum(m.size for m in msgs), len(msgs)


# --- structures ---------------------------------------------------------------------------


def test_structures_put_get_idempotent_and_removed_with_blob(local_store: Store) -> None:
    ref, data = body("one")
    s = compute_structure(data)
    assert local_store.get_structures([ref.digest]) == {}
    local_store.put_structures([(ref.digest, s)])
    local_store.put_structures([(ref.digest, s), (ref.digest, s)])  # no error, no duplicate
    assert local_store.get_structures([ref.digest, "cd" * 32]) == {ref.digest: s}
    local_store.delete_blob(ref.digest)
    assert local_store.get_structures([ref.digest]) == {}


def test_structure_stored_by_enqueue_batch_and_append(local_store: Store) -> None:
    ref, data = body("delivered")
    s = compute_structure(data)
    msg = message("Q1", local(ALICE), blob=ref)
    local_store.enqueue_batch([replace(msg, body=data, structure=s)])
    ref2, data2 = body("appended")
    s2 = compute_structure(data2)
    local_store.append_message(ALICE, "Sent", ref2, data2, frozenset(), WHEN, structure=s2)
    assert local_store.get_structures([ref.digest, ref2.digest]) == {ref.digest: s, ref2.digest: s2}
    assert s.envelope.startswith(b'(NIL "delivered" (')
    assert s.body == b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 1)'
    assert s.bodystructure == s.body[:-1] + b" NIL NIL NIL NIL)"


def test_bad_digest_refused(local_store: Store) -> None:
    with pytest.raises(StoreError):
        local_store.put_structures([("../x", MessageStructure(b"", b"", b""))])


# --- session reads ------------------------------------------------------------------------


def test_mailbox_uids_and_get_messages(local_store: Store) -> None:
    for i in range(30):
        append(local_store, "Archive", f"m{i}")
    local_store.expunge_messages(ALICE, "Archive", [5, 6, 20])
    info, uids = local_store.mailbox_uids(ALICE, "Archive")
    assert uids == [u for u in range(1, 31) if u not in (5, 6, 20)]
    assert (info.name, info.messages, info.uidnext) == ("Archive", 27, 31)
    want = [30, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 20, 25, 99]
    got = local_store.get_messages(ALICE, "Archive", want)
    assert [m.uid for m in got] == [1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 25, 30]
    assert got == [local_store.get_message(ALICE, "Archive", m.uid) for m in got]
    assert local_store.get_messages(ALICE, "Archive", []) == []
    with pytest.raises(NotFound):
        local_store.mailbox_uids(ALICE, "Nope")
    with pytest.raises(NotFound):
        local_store.get_messages(ALICE, "Nope", [1])


def test_first_unseen_and_status(local_store: Store) -> None:
    assert local_store.first_unseen(ALICE, "INBOX") is None
    a = append(local_store, "INBOX", "a", "\\Seen")
    b = append(local_store, "INBOX", "b", "\\Deleted", "Seenish")
    append(local_store, "INBOX", "c", "\\seen", "\\Deleted")
    assert local_store.first_unseen(ALICE, "INBOX") == b.uid
    status = local_store.mailbox_status(ALICE, "INBOX")
    assert (status.unseen, status.deleted, status.info.messages) == (1, 2, 3)
    assert status.size == sum(m.size for m in local_store.list_messages(ALICE, "INBOX"))
    local_store.store_flags(ALICE, "INBOX", [b.uid], frozenset({"\\Seen"}), "add")
    assert local_store.first_unseen(ALICE, "INBOX") is None
    assert local_store.mailbox_status(ALICE, "INBOX").unseen == 0
    assert a.uid == 1
    with pytest.raises(NotFound):
        local_store.mailbox_status(ALICE, "Nope")
    with pytest.raises(NotFound):
        local_store.first_unseen(ALICE, "Nope")


def test_mailbox_marks_advance_on_every_change(local_store: Store) -> None:
    def marks() -> dict[tuple[str, str], tuple[int, int, int]]:
        return local_store.mailbox_marks([ALICE, "BOB@example.org", "nobody@example.org"])

    before = marks()
    assert {u for u, _ in before} == {ALICE, BOB}
    assert (ALICE, "INBOX") in before
    assert (BOB, "Trash") in before

    def changed(step: object) -> set[tuple[str, str]]:
        nonlocal before
        now = marks()
        diff = {k for k in now if now[k] != before.get(k)}
        before = now
        return diff

    ref, data = body("x")
    local_store.enqueue_batch([replace(message("Q1", local(ALICE), blob=ref), body=data)])
    assert changed("deliver") == {(ALICE, "INBOX")}
    append(local_store, "Archive", "y")
    assert changed("append") == {(ALICE, "Archive")}
    local_store.store_flags(ALICE, "INBOX", [1], frozenset({"\\Seen"}), "add")
    assert changed("flags") == {(ALICE, "INBOX")}
    local_store.copy_messages(ALICE, "INBOX", [1], "Trash")
    assert changed("copy") == {(ALICE, "Trash")}
    local_store.move_messages(ALICE, "Archive", [1], "Junk")
    assert changed("move") == {(ALICE, "Archive"), (ALICE, "Junk")}
    local_store.expunge_messages(ALICE, "Trash", [1])
    assert changed("expunge") == {(ALICE, "Trash")}
    assert local_store.mailbox_marks([]) == {}


# --- quota --------------------------------------------------------------------------------


def test_quota_limit_and_table(local_store: Store) -> None:
    assert local_store.get_quota(ALICE) == QuotaUsage(None, 0, 0)
    local_store.set_quota(ALICE, 5000)
    m = append(local_store, "INBOX", "q")
    assert local_store.get_quota("Alice@Example.org") == QuotaUsage(5000, m.size, 1)
    local_store.set_quota(ALICE, None)
    assert local_store.quota_table() == {
        ALICE: QuotaUsage(None, m.size, 1),
        BOB: QuotaUsage(None, 0, 0),
    }
    assert local_store.mailbox_usage(ALICE) == m.size
    with pytest.raises(NotFound):
        local_store.set_quota("nobody@example.org", 1)
    with pytest.raises(NotFound):
        local_store.get_quota("nobody@example.org")
    with pytest.raises(StoreError):
        local_store.set_quota(ALICE, -1)


def test_usage_counter_matches_real_sum_after_mixed_operations(local_store: Store) -> None:
    store = local_store
    big, big_data = body("shared" * 50)
    store.enqueue_batch(
        [
            replace(message("Q1", local(ALICE), local(BOB), remote("x@r.test"), blob=big),
                  body=big_data),
            replace(message("Q2", local(ALICE), offset=1, blob=big), body=big_data),
            message("Q3", local(BOB), hold=True, offset=2, blob=big),
        ]
    )  # fmt: skip
    store.release("Q3")
    for i in range(6):
        append(store, "Archive", f"a{i}", "\\Seen")
    store.copy_messages(ALICE, "Archive", [1, 2, 3], "Trash")
    store.move_messages(ALICE, "Archive", [4, 5], "Junk")
    store.expunge_messages(ALICE, "INBOX", [1])
    store.create_mailbox(ALICE, "Work")
    store.copy_messages(ALICE, "Trash", [1, 2], "Work")
    store.delete_mailbox(ALICE, "Trash")
    store.rename_mailbox(ALICE, "INBOX", "Old")
    store.rename_mailbox(ALICE, "Work", "Play")
    store.store_flags(ALICE, "Play", [1], frozenset({"\\Flagged"}), "add")
    for user in (ALICE, BOB):
        q = store.get_quota(user)
        assert (q.used, q.messages) == real_usage(store, user)
    assert store.get_quota(ALICE).messages == 9
    store.add_user("carol@example.org", "h")
    append(store, "INBOX", "c", user="carol@example.org")
    store.remove_user("carol@example.org")
    assert set(store.quota_table()) == {ALICE, BOB}
    assert store.get_quota(BOB).messages == 2


def test_mailbox_index_and_batched_blobs(local_store: Store) -> None:
    """SELECT's (uid, flags, modseq) snapshot; get_blobs reads many inline bodies at once."""
    one = append(local_store, "INBOX", "one", "\\Seen", "$Work")
    two = append(local_store, "INBOX", "two")
    info, index = local_store.mailbox_index(ALICE, "INBOX")
    assert info.messages == 2
    assert index == [(1, "$Work \\Seen", one.modseq), (2, "", two.modseq)]
    with pytest.raises(NotFound):
        local_store.mailbox_index(ALICE, "Nope")
    found = local_store.get_blobs([one.blob.digest, two.blob.digest, "0" * 64])
    assert found == {one.blob.digest: body("one")[1], two.blob.digest: body("two")[1]}


def test_blob_heads(local_store: Store) -> None:
    one = append(local_store, "INBOX", "one")
    heads = local_store.get_blob_heads([one.blob.digest, "0" * 64], 10)
    assert heads == {one.blob.digest: body("one")[1][:10]}


# --- stored header blocks (schema 8) ----------------------------------------------------------


def test_header_rows_carry_the_stored_header_and_fill_old_rows(local_store: Store) -> None:
    """header_rows: UID, flags, MODSEQ, size, prefix and the blob's header block; None for a
    structure stored without one (before schema 8) or no structure; put_headers fills only
    those, and only where a structure row exists."""
    kept, kept_data = body("kept")
    local_store.append_message(ALICE, "INBOX", kept, kept_data, frozenset(["\\Seen"]), WHEN,
                               structure=compute_structure(kept_data))  # fmt: skip
    old, old_data = body("old")
    s = compute_structure(old_data)
    local_store.append_message(ALICE, "INBOX", old, old_data, frozenset(), WHEN,
                               structure=replace(s, header=None))  # fmt: skip
    bare, bare_data = body("bare")
    local_store.append_message(ALICE, "INBOX", bare, bare_data, frozenset(), WHEN)
    rows = local_store.header_rows(ALICE, "INBOX", [3, 2, 1, 99])
    assert [r.uid for r in rows] == [1, 2, 3]
    full = {m.uid: m for m in local_store.get_messages(ALICE, "INBOX", [1, 2, 3])}
    for r in rows:
        m = full[r.uid]
        assert (r.flags.split(), r.modseq, r.size, r.prefix, r.blob) == (
            sorted(m.flags), m.modseq, m.size, m.prefix, m.blob,
        )  # fmt: skip
    assert [r.header for r in rows] == [b"From: a@remote.test\r\nSubject: kept\r\n\r\n", None, None]
    assert local_store.get_structures([old.digest])[old.digest].header is None
    local_store.put_headers([(old.digest, s.header or b""), (bare.digest, b"X: y\r\n\r\n")])
    local_store.put_headers([(old.digest, b"not again\r\n\r\n")])  # only NULL is filled
    assert [r.header for r in local_store.header_rows(ALICE, "INBOX", [1, 2, 3])] == [
        b"From: a@remote.test\r\nSubject: kept\r\n\r\n",
        b"From: a@remote.test\r\nSubject: old\r\n\r\n",
        None,  # no structure row: nothing to fill
    ]
    with pytest.raises(NotFound):
        local_store.header_rows(ALICE, "Nope", [1])


def test_a_header_longer_than_the_cap_is_not_kept() -> None:
    long_header = b"".join(b"X-F%d: %s\r\n" % (n, b"y" * 70) for n in range(300)) + b"\r\nbody"
    assert compute_structure(long_header).header == b""
    assert compute_structure(b"A: b\r\n\r\nbody").header == b"A: b\r\n\r\n"
    assert compute_structure(b"no blank line").header == b"no blank line"


def test_header_rows_with_a_word_mark_plain_headers_that_lack_it(local_store: Store) -> None:
    """The SEARCH prefilter: only an ASCII header without encoded words is judged, in any case."""
    blobs = [
        b"From: Carol <c@x>\r\n\r\n",  # has it (other case)
        b"From: dave\r\n\r\ncarol in the body\r\n",  # lacks it (the body does not count)
        b"From: =?utf-8?q?carol?=\r\n\r\n",  # encoded words: not judged
        "From: Carö\r\n\r\n".encode(),  # 8-bit: not judged
    ]
    for data in blobs:
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        local_store.append_message(ALICE, "INBOX", ref, data, frozenset(), WHEN,
                                   structure=compute_structure(data))  # fmt: skip
    rows = local_store.header_rows(ALICE, "INBOX", [1, 2, 3, 4], "CAROL")
    assert [r.lacks_word for r in rows] == [False, True, False, False]
    assert [r.header for r in rows] == [b[: b.index(b"\r\n\r\n") + 4] for b in blobs]
    assert rows[1].blob.size == len(blobs[1])
    assert not any(r.lacks_word for r in local_store.header_rows(ALICE, "INBOX", [1, 2, 3, 4]))


def test_blob_head_of_an_empty_body(local_store: Store) -> None:
    empty = BlobRef(hashlib.sha256(b"").hexdigest(), 0)
    local_store.put_blob(empty, b"")
    assert local_store.get_blob_heads([empty.digest], 10) == {empty.digest: b""}
