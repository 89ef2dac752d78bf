"""Store.expunge_messages: removal by UID, MODSEQ, no UID reuse, unreferenced blobs returned."""

from __future__ import annotations

import pytest

from roost.store.interface import NotFound, Store
from roost.store.types import BlobRef
from tests.store.conftest import local, message, remote

ALICE = "alice@example.org"
BOB = "bob@example.org"
OTHER = BlobRef("cd" * 32, 50)


def test_expunge_removes_only_the_given_uids(local_store: Store) -> None:
    local_store.enqueue_batch([message(f"q{i}", local(ALICE), offset=i) for i in range(3)])
    before = local_store.get_mailbox(ALICE, "INBOX")
    assert before is not None
    local_store.expunge_messages(ALICE, "inbox", [1, 3, 99])
    assert [m.uid for m in local_store.list_messages(ALICE, "INBOX")] == [2]
    after = local_store.get_mailbox(ALICE, "INBOX")
    assert after is not None
    assert after.highestmodseq > before.highestmodseq  # RFC 7162: an expunge is a change
    assert after.uidnext == before.uidnext
    assert after.messages == 1


def test_uids_are_not_reused(local_store: Store) -> None:
    local_store.enqueue_batch([message("q1", local(ALICE)), message("q2", local(ALICE))])
    local_store.expunge_messages(ALICE, "INBOX", [1, 2])
    local_store.enqueue_batch([message("q3", local(ALICE))])
    assert [m.uid for m in local_store.list_messages(ALICE, "INBOX")] == [3]


def test_nothing_removed_leaves_modseq(local_store: Store) -> None:
    local_store.enqueue_batch([message("q1", local(ALICE))])
    before = local_store.get_mailbox(ALICE, "INBOX")
    assert local_store.expunge_messages(ALICE, "INBOX", [42]) == []
    assert local_store.expunge_messages(ALICE, "INBOX", []) == []
    assert local_store.get_mailbox(ALICE, "INBOX") == before


def test_returns_blobs_nobody_references(local_store: Store) -> None:
    """Shared blobs stay until their last reference goes; queue rows count as references."""
    local_store.enqueue_batch(
        [
            message("q1", local(ALICE), local(BOB)),  # BLOB shared by alice and bob
            message("q2", local(ALICE), blob=OTHER, offset=1),
        ]
    )
    assert local_store.expunge_messages(ALICE, "INBOX", [1, 2]) == [OTHER]
    assert not local_store.blob_in_use(OTHER)
    assert local_store.blob_in_use(message("x").blob)
    assert local_store.expunge_messages(BOB, "INBOX", [1]) == [message("x").blob]


def test_queued_copy_keeps_the_blob(local_store: Store) -> None:
    local_store.enqueue_batch([message("q1", local(ALICE), remote("r@remote.test"))])
    assert local_store.expunge_messages(ALICE, "INBOX", [1]) == []
    assert local_store.list_messages(ALICE, "INBOX") == []


def test_missing_mailbox_is_not_found(local_store: Store) -> None:
    with pytest.raises(NotFound):
        local_store.expunge_messages(ALICE, "Nope", [1])
    with pytest.raises(NotFound):
        local_store.expunge_messages("nobody@example.org", "INBOX", [1])
