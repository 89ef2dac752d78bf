"""Store operations for the IMAP server: mailboxes, APPEND, STORE, COPY/MOVE, CONDSTORE/QRESYNC."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime

import pytest

from roost.config.model import RoostConfig
from roost.store import open_store
from roost.store.interface import AlreadyExists, NotFound, Store, StoreError
from roost.store.types import BlobRef, MailboxInfo, StoredMessage
from tests.store.conftest import local, message

ALICE = "alice@example.org"
BOB = "bob@example.org"
WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def body(text: str) -> tuple[BlobRef, bytes]:
    data = f"Subject: {text}\r\n\r\n{text}\r\n".encode()
    return BlobRef(hashlib.sha256(data).hexdigest(), len(data)), data


def append(store: Store, mailbox: str, text: str, *flags: str, user: str = ALICE) -> StoredMessage:
    ref, data = body(text)
    return store.append_message(user, mailbox, ref, data, frozenset(flags), WHEN)


def box(store: Store, name: str, user: str = ALICE) -> MailboxInfo:
    info = store.get_mailbox(user, name)
    assert info is not None, name
    return info


def uids(store: Store, name: str, user: str = ALICE) -> list[int]:
    return [m.uid for m in store.list_messages(user, name)]


# --- mailboxes -----------------------------------------------------------------------------


def test_create_mailbox(local_store: Store) -> None:
    info = local_store.create_mailbox(ALICE, "Projects/Roost", "\\flagged")
    assert (info.name, info.uidnext, info.messages, info.subscribed) == (
        "Projects/Roost", 1, 0, True,
    )  # fmt: skip
    assert info.special_use == "\\Flagged"
    assert box(local_store, "Projects/Roost") == info
    assert info.uidvalidity > max(b.uidvalidity for b in local_store.list_mailboxes(BOB))
    assert box(local_store, "Sent").special_use == "\\Sent"
    assert box(local_store, "INBOX").special_use is None
    with pytest.raises(AlreadyExists):
        local_store.create_mailbox(ALICE, "Projects/Roost")
    with pytest.raises(AlreadyExists):
        local_store.create_mailbox(ALICE, "inbox")
    with pytest.raises(StoreError):
        local_store.create_mailbox(ALICE, "X", "\\Important-ish")
    with pytest.raises(NotFound):
        local_store.create_mailbox("nobody@example.org", "X")


def test_recreated_mailbox_gets_new_uidvalidity(local_store: Store) -> None:
    """RFC 9051 §2.3.1.1, even when recreated within the same second (default mailboxes
    included): the store remembers the highest UIDVALIDITY it handed out."""
    first = local_store.create_mailbox(ALICE, "Temp")
    append(local_store, "Temp", "one")
    local_store.delete_mailbox(ALICE, "Temp")
    second = local_store.create_mailbox(ALICE, "Temp")
    assert second.uidvalidity > first.uidvalidity
    old_trash = box(local_store, "Trash").uidvalidity
    local_store.delete_mailbox(ALICE, "Trash")
    assert local_store.create_mailbox(ALICE, "Trash").uidvalidity > old_trash


def test_delete_mailbox(local_store: Store) -> None:
    local_store.create_mailbox(ALICE, "Old")
    shared = append(local_store, "Old", "shared")
    append(local_store, "INBOX", "shared")  # same body, same blob
    only = append(local_store, "Old", "only here")
    assert local_store.delete_mailbox(ALICE, "Old") == [only.blob]
    assert local_store.get_mailbox(ALICE, "Old") is None
    assert local_store.blob_in_use(shared.blob)
    with pytest.raises(NotFound):
        local_store.delete_mailbox(ALICE, "Old")
    with pytest.raises(StoreError):
        local_store.delete_mailbox(ALICE, "Inbox")


def test_rename_keeps_uids_uidvalidity_and_moves_inferiors(local_store: Store) -> None:
    local_store.create_mailbox(ALICE, "Work")
    local_store.create_mailbox(ALICE, "Work/2025")
    local_store.create_mailbox(ALICE, "Workshop")
    append(local_store, "Work", "a")
    append(local_store, "Work", "b")
    local_store.expunge_messages(ALICE, "Work", [1])
    before, child = box(local_store, "Work"), box(local_store, "Work/2025")
    local_store.rename_mailbox(ALICE, "Work", "Jobs")
    after = box(local_store, "Jobs")
    assert (after.uidvalidity, after.uidnext, after.highestmodseq) == (
        before.uidvalidity, before.uidnext, before.highestmodseq,
    )  # fmt: skip
    assert uids(local_store, "Jobs") == [2]
    assert box(local_store, "Jobs/2025").uidvalidity == child.uidvalidity
    assert local_store.get_mailbox(ALICE, "Work") is None
    assert local_store.get_mailbox(ALICE, "Workshop") is not None  # not an inferior
    assert local_store.create_mailbox(ALICE, "Work").uidvalidity > before.uidvalidity
    with pytest.raises(AlreadyExists):
        local_store.rename_mailbox(ALICE, "Jobs", "Sent")
    with pytest.raises(AlreadyExists):
        local_store.rename_mailbox(ALICE, "Jobs", "INBOX")
    with pytest.raises(NotFound):
        local_store.rename_mailbox(ALICE, "Nope", "Other")
    with pytest.raises(StoreError):
        local_store.rename_mailbox(ALICE, "Jobs", "Jobs/inner")


def test_rename_inbox_moves_messages_and_leaves_it_empty(local_store: Store) -> None:
    """RFC 9051 §6.3.6: INBOX stays, empty, with its UIDVALIDITY and UIDNEXT."""
    local_store.enqueue_batch([message(f"q{i}", local(ALICE), offset=i) for i in range(2)])
    local_store.store_flags(ALICE, "INBOX", [2], frozenset({"\\Seen"}), "add")
    inbox = box(local_store, "INBOX")
    moved = local_store.list_messages(ALICE, "INBOX")
    local_store.rename_mailbox(ALICE, "inbox", "Old Mail")
    new, after = box(local_store, "Old Mail"), box(local_store, "INBOX")
    assert after.messages == 0
    assert (after.uidvalidity, after.uidnext) == (inbox.uidvalidity, inbox.uidnext)
    assert after.highestmodseq > inbox.highestmodseq
    assert local_store.expunged_since(ALICE, "INBOX", inbox.highestmodseq) == [1, 2]
    assert new.uidvalidity != inbox.uidvalidity
    assert new.uidnext == inbox.uidnext
    assert new.highestmodseq >= inbox.highestmodseq
    assert [(m.uid, m.flags, m.blob) for m in local_store.list_messages(ALICE, "Old Mail")] == [
        (m.uid, m.flags, m.blob) for m in moved
    ]
    local_store.enqueue_batch([message("q9", local(ALICE))])
    assert uids(local_store, "INBOX") == [3]  # UIDs never reused


def test_set_subscribed(local_store: Store) -> None:
    local_store.set_subscribed(ALICE, "Junk", False)
    assert not box(local_store, "Junk").subscribed
    local_store.set_subscribed(ALICE, "Junk", True)
    assert box(local_store, "Junk").subscribed
    with pytest.raises(NotFound):
        local_store.set_subscribed(ALICE, "Nope", True)


# --- messages ------------------------------------------------------------------------------


def test_append_inline_and_file_tier(local_store: Store) -> None:
    before = box(local_store, "Drafts")
    msg = append(local_store, "Drafts", "draft", "\\draft", "$Work")
    assert (msg.uid, msg.mailbox, msg.prefix, msg.size) == (1, "Drafts", b"", msg.blob.size)
    assert msg.flags == {"\\Draft", "$Work"}
    assert msg.internal_date == WHEN
    assert msg.modseq > before.highestmodseq
    assert local_store.get_blob(msg.blob.digest) == body("draft")[1]
    after = box(local_store, "Drafts")
    assert (after.uidnext, after.highestmodseq, after.messages) == (2, msg.modseq, 1)
    assert local_store.get_message(ALICE, "Drafts", 1) == msg
    on_disk = BlobRef("ef" * 32, 12345)  # the caller synced it to the file tier
    second = local_store.append_message(ALICE, "INBOX", on_disk, None, frozenset(), WHEN)
    assert second.uid == 1
    assert local_store.get_blob(on_disk.digest) is None
    with pytest.raises(StoreError):
        local_store.append_message(ALICE, "INBOX", on_disk, b"short", frozenset(), WHEN)
    with pytest.raises(NotFound):
        append(local_store, "Nope", "x")
    assert uids(local_store, "INBOX") == [1]


def test_store_flags_modes_and_normalisation(local_store: Store) -> None:
    for text in ("a", "b", "c"):
        append(local_store, "INBOX", text, "$Label")
    start = box(local_store, "INBOX").highestmodseq
    changed, refused = local_store.store_flags(
        ALICE, "INBOX", [1, 2, 99], frozenset({"\\SEEN", "$label", "Urgent"}), "add"
    )
    assert refused == []
    assert [m.uid for m in changed] == [1, 2]
    assert changed[0].flags == {"\\Seen", "$Label", "Urgent"}  # stored spelling kept
    assert len({m.modseq for m in changed}) == 2
    assert min(m.modseq for m in changed) > start
    # nothing changes: no new MODSEQ, nothing reported
    same, _ = local_store.store_flags(ALICE, "INBOX", [1], frozenset({"\\seen"}), "add")
    assert same == []
    assert box(local_store, "INBOX").highestmodseq == max(m.modseq for m in changed)
    removed, _ = local_store.store_flags(ALICE, "INBOX", [1, 3], frozenset({"$LABEL"}), "remove")
    assert [(m.uid, m.flags) for m in removed] == [(1, {"\\Seen", "Urgent"}), (3, frozenset())]
    replaced, _ = local_store.store_flags(ALICE, "INBOX", [2], frozenset({"\\flagged"}), "set")
    assert replaced[0].flags == {"\\Flagged"}
    stored = local_store.get_message(ALICE, "INBOX", 2)
    assert stored is not None
    assert (stored.uid, stored.flags, stored.modseq) == replaced[0]
    assert box(local_store, "INBOX").highestmodseq == replaced[0].modseq
    with pytest.raises(StoreError):
        local_store.store_flags(ALICE, "INBOX", [1], frozenset({"two words"}), "add")


def test_unchanged_since_refuses_modified_messages(local_store: Store) -> None:
    """RFC 7162 §3.1.3: messages with MODSEQ above UNCHANGEDSINCE are not stored."""
    one, two = append(local_store, "INBOX", "one"), append(local_store, "INBOX", "two")
    changed, refused = local_store.store_flags(
        ALICE, "INBOX", [1, 2], frozenset({"\\Seen"}), "add", unchanged_since=one.modseq
    )
    assert [m.uid for m in changed] == [1]
    assert refused == [2]
    assert local_store.get_message(ALICE, "INBOX", 2) == two
    changed, refused = local_store.store_flags(
        ALICE, "INBOX", [1, 2], frozenset({"\\Deleted"}), "add", unchanged_since=0
    )
    assert (changed, refused) == ([], [1, 2])


def test_copy_keeps_message_and_gives_new_uids(local_store: Store) -> None:
    local_store.enqueue_batch([message("q1", local(ALICE))])
    append(local_store, "INBOX", "two", "\\Flagged")
    append(local_store, "Archive", "earlier")
    target_before = box(local_store, "Archive")
    mapping = local_store.copy_messages(ALICE, "inbox", [2, 1, 42], "Archive")
    assert mapping == [(1, 2), (2, 3)]
    src = {m.uid: m for m in local_store.list_messages(ALICE, "INBOX")}
    copies = {m.uid: m for m in local_store.list_messages(ALICE, "Archive")}
    for old, new in mapping:
        a, b = src[old], copies[new]
        assert (a.blob, a.prefix, a.size, a.flags, a.internal_date) == (
            b.blob, b.prefix, b.size, b.flags, b.internal_date,
        )  # fmt: skip
        assert b.modseq > target_before.highestmodseq
    assert box(local_store, "Archive").uidnext == 4
    assert local_store.copy_messages(ALICE, "INBOX", [77], "Archive") == []
    assert box(local_store, "Archive").uidnext == 4
    with pytest.raises(NotFound):
        local_store.copy_messages(ALICE, "INBOX", [1], "Nope")


def test_move_is_copy_plus_expunge(local_store: Store) -> None:
    for text in ("a", "b", "c"):
        append(local_store, "INBOX", text)
    inbox = box(local_store, "INBOX")
    mapping = local_store.move_messages(ALICE, "INBOX", [1, 3], "Trash")
    assert mapping == [(1, 1), (3, 2)]
    assert uids(local_store, "INBOX") == [2]
    assert uids(local_store, "Trash") == [1, 2]
    after = box(local_store, "INBOX")
    assert after.highestmodseq == inbox.highestmodseq + 1
    assert after.uidnext == inbox.uidnext
    assert local_store.expunged_since(ALICE, "INBOX", inbox.highestmodseq) == [1, 3]
    # within one mailbox: new UIDs, the old ones expunged
    assert local_store.move_messages(ALICE, "INBOX", [2], "INBOX") == [(2, 4)]
    assert uids(local_store, "INBOX") == [4]


def test_move_is_atomic(local_store: Store) -> None:
    """A move whose target is missing changes nothing in the source."""
    append(local_store, "INBOX", "a")
    before = box(local_store, "INBOX")
    with pytest.raises(NotFound):
        local_store.move_messages(ALICE, "INBOX", [1], "Nope")
    assert box(local_store, "INBOX") == before
    assert local_store.expunged_since(ALICE, "INBOX", 0) == []


def test_messages_since_and_tombstones(local_store: Store) -> None:
    a, b, c = (append(local_store, "INBOX", t) for t in ("a", "b", "c"))
    mark = box(local_store, "INBOX").highestmodseq
    assert local_store.messages_since(ALICE, "INBOX", mark) == []
    assert [m.uid for m in local_store.messages_since(ALICE, "INBOX", a.modseq)] == [2, 3]
    local_store.store_flags(ALICE, "INBOX", [1], frozenset({"\\Seen"}), "add")
    assert [m.uid for m in local_store.messages_since(ALICE, "INBOX", mark)] == [1]
    local_store.expunge_messages(ALICE, "INBOX", [2])
    mark2 = box(local_store, "INBOX").highestmodseq
    local_store.expunge_messages(ALICE, "INBOX", [3])
    assert local_store.expunged_since(ALICE, "INBOX", mark) == [2, 3]
    assert local_store.expunged_since(ALICE, "INBOX", mark2) == [3]
    assert local_store.expunged_since(ALICE, "INBOX", box(local_store, "INBOX").highestmodseq) == []
    assert (b.uid, c.uid) == (2, 3)
    with pytest.raises(NotFound):
        local_store.messages_since(ALICE, "Nope", 0)
    with pytest.raises(NotFound):
        local_store.expunged_since(ALICE, "Nope", 0)


def test_modseq_only_grows(local_store: Store) -> None:
    """RFC 7162 §3.1.1: every change in a mailbox raises HIGHESTMODSEQ."""
    seen = [box(local_store, "INBOX").highestmodseq]

    def changed() -> None:
        now = box(local_store, "INBOX").highestmodseq
        assert now > seen[-1]
        seen.append(now)

    local_store.enqueue_batch([message("q1", local(ALICE))])
    changed()
    append(local_store, "INBOX", "x")
    changed()
    local_store.store_flags(ALICE, "INBOX", [1, 2], frozenset({"\\Seen"}), "add")
    changed()
    local_store.copy_messages(ALICE, "INBOX", [1], "INBOX")
    changed()
    local_store.move_messages(ALICE, "INBOX", [2], "Archive")
    changed()
    local_store.move_messages(ALICE, "Archive", [1], "INBOX")
    changed()
    local_store.expunge_messages(ALICE, "INBOX", [1])
    changed()
    for m in local_store.list_messages(ALICE, "INBOX"):
        assert m.modseq <= seen[-1]


def test_mailbox_usage(local_store: Store) -> None:
    assert local_store.mailbox_usage(ALICE) == 0
    local_store.enqueue_batch([message("q1", local(ALICE))])
    inbox_size = local_store.list_messages(ALICE, "INBOX")[0].size
    drafted = append(local_store, "Drafts", "d")
    local_store.copy_messages(ALICE, "Drafts", [1], "Archive")
    assert local_store.mailbox_usage("Alice@Example.org") == inbox_size + 2 * drafted.size
    assert local_store.mailbox_usage(BOB) == 0


def test_concurrent_appends_get_unique_uids(roost_config: RoostConfig, local_store: Store) -> None:
    """Two stores (two nodes) appending to one mailbox never hand out the same UID."""
    stores = [open_store(roost_config) for _ in range(2)]
    errors: list[BaseException] = []
    got: list[int] = []
    lock = threading.Lock()

    def work(s: Store, n: int) -> None:
        try:
            for i in range(15):
                msg = append(s, "INBOX", f"{n}-{i}")
                with lock:
                    got.append(msg.uid)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, n)) for n, s in enumerate(stores)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in stores:
            s.close()
    assert errors == []
    assert sorted(got) == list(range(1, 31))
    assert uids(local_store, "INBOX") == list(range(1, 31))
    assert box(local_store, "INBOX").uidnext == 31


def test_store_flags_on_runs_and_scattered_uids(local_store: Store) -> None:
    """Runs of consecutive UIDs are read as ranges and the rest in IN lists: every asked-for
    message that exists is changed once, in UID order, each with its own new MODSEQ."""
    for n in range(30):
        append(local_store, "INBOX", f"m{n}", "\\Seen" if n % 3 else "$Old")
    wanted = [*range(1, 13), 15, 17, *range(20, 31), 40, 41]  # 40 and 41 do not exist
    changed, refused = local_store.store_flags(
        ALICE, "INBOX", list(reversed(wanted)), frozenset({"\\Flagged"}), "add"
    )
    assert refused == []
    assert [m.uid for m in changed] == [u for u in wanted if u <= 30]
    assert len({m.modseq for m in changed}) == len(changed)
    for m in changed:
        stored = local_store.get_message(ALICE, "INBOX", m.uid)
        assert stored is not None
        assert (stored.flags, stored.modseq) == (m.flags, m.modseq)
        assert "\\Flagged" in m.flags
    untouched = local_store.get_message(ALICE, "INBOX", 13)
    assert untouched is not None
    assert "\\Flagged" not in untouched.flags
