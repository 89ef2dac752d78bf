"""Queue and intake: group commit, local delivery in the same transaction, operator actions."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from roost.config.model import RoostConfig
from roost.store import open_store
from roost.store.interface import AlreadyExists, NotFound, Store, StoreError
from roost.store.types import BlobRef, NewMessage, QueueState, RcptStatus
from tests.store.conftest import BLOB, T0, local, message, remote

ALICE = "alice@example.org"
BOB = "bob@example.org"


def test_mixed_batch(local_store: Store) -> None:
    """Locals are delivered and marked, remotes stay pending, held messages deliver nothing."""
    local_store.enqueue_batch(
        [
            message("q1", local(ALICE), remote("x@remote.test")),
            message("q2", local(BOB), offset=1),
            message("q3", local(ALICE), remote("y@remote.test"), hold=True, offset=2),
        ]
    )
    entries = {e.queue_id: e for e in local_store.list_queue()}
    assert set(entries) == {"q1", "q3"}  # q2 had only a local recipient: not kept
    q1 = entries["q1"]
    assert q1.state is QueueState.INCOMING
    assert q1.next_attempt == q1.received_at == T0
    assert [r.status for r in q1.recipients] == [RcptStatus.DELIVERED, RcptStatus.PENDING]
    assert q1.recipients[1].notify == "FAILURE"
    assert q1.recipients[1].orcpt is not None
    assert entries["q3"].state is QueueState.HOLD
    assert {r.status for r in entries["q3"].recipients} == {RcptStatus.PENDING}
    assert [m.uid for m in local_store.list_messages(ALICE, "INBOX")] == [1]
    assert [m.uid for m in local_store.list_messages(BOB, "INBOX")] == [1]


def test_delivered_copy_has_prefixes_and_date(local_store: Store) -> None:
    """The stored copy is delivery prefix + message prefix in front of the blob."""
    local_store.enqueue_batch([message("q1", local(ALICE))])
    msg = local_store.get_message(ALICE, "inbox", 1)
    assert msg is not None
    assert msg.prefix == b"Delivered-To: alice@example.org\r\nReceived: from x\r\n"
    assert msg.size == len(msg.prefix) + BLOB.size
    assert msg.internal_date == T0
    assert msg.flags == frozenset()
    assert msg.blob == BLOB


def test_uids_consecutive_and_modseq_increasing(local_store: Store) -> None:
    """UIDs go 1, 2, 3 ... in order; every append raises HIGHESTMODSEQ."""
    local_store.enqueue_batch([message(f"q{i}", local(ALICE), offset=i) for i in range(3)])
    local_store.enqueue_batch([message("q9", local(ALICE), offset=9)])
    msgs = local_store.list_messages(ALICE, "INBOX")
    assert [m.uid for m in msgs] == [1, 2, 3, 4]
    modseqs = [m.modseq for m in msgs]
    assert modseqs == sorted(set(modseqs))
    assert modseqs[0] > 1
    box = local_store.get_mailbox(ALICE, "INBOX")
    assert box is not None
    assert (box.uidnext, box.highestmodseq, box.messages) == (5, modseqs[-1], 4)


def test_duplicate_deliver_to_delivered_once(local_store: Store) -> None:
    """Two recipients expanding to the same user give one copy, both marked delivered."""
    local_store.enqueue_batch(
        [message("q1", local("sales@example.org", ALICE), local(ALICE), remote("r@remote.test"))]
    )
    assert len(local_store.list_messages(ALICE, "INBOX")) == 1
    entry = local_store.get_queue_entry("q1")
    assert entry is not None
    statuses = [r.status for r in entry.recipients]
    assert statuses == [RcptStatus.DELIVERED, RcptStatus.DELIVERED, RcptStatus.PENDING]


def test_missing_local_user_stays_pending(local_store: Store) -> None:
    """A deliver_to naming a removed user is kept in the queue with the reason, never lost."""
    local_store.enqueue_batch([message("q1", local("ghost@example.org"))])
    entry = local_store.get_queue_entry("q1")
    assert entry is not None
    rcpt = entry.recipients[0]
    assert rcpt.status is RcptStatus.PENDING
    assert rcpt.last_reply is not None
    assert "ghost@example.org" in rcpt.last_reply


def test_duplicate_queue_id_rolls_back_whole_batch(local_store: Store) -> None:
    """A failing message aborts the batch: nothing from it is visible."""
    local_store.enqueue_batch([message("q1", remote("r@remote.test"))])
    with pytest.raises(AlreadyExists, match="q1"):
        local_store.enqueue_batch(
            [message("q2", local(ALICE), remote("s@remote.test")), message("q1", remote("r@x"))]
        )
    assert [e.queue_id for e in local_store.list_queue()] == ["q1"]
    assert local_store.list_messages(ALICE, "INBOX") == []


def test_rejects_naive_time_and_empty_recipients(local_store: Store) -> None:
    """Naive datetimes and recipient-less messages are programming errors, refused loudly."""
    naive = NewMessage("q1", "", (remote("r@x.test"),), BLOB, b"", datetime(2026, 1, 1))
    with pytest.raises(StoreError, match="naive"):
        local_store.enqueue_batch([naive])
    with pytest.raises(StoreError, match="no recipients"):
        local_store.enqueue_batch([message("q2")])


def test_hold_release_delivers_locals(local_store: Store) -> None:
    """Releasing a held message delivers its local recipients and makes the rest due now."""
    local_store.enqueue_batch([message("q1", local(ALICE), remote("r@remote.test"))])
    local_store.enqueue_batch([message("q2", local(BOB), remote("s@remote.test"), hold=True)])
    local_store.hold("q1")
    entry = local_store.get_queue_entry("q1")
    assert entry is not None
    assert entry.state is QueueState.HOLD
    local_store.release("q2")
    q2 = local_store.get_queue_entry("q2")
    assert q2 is not None
    assert q2.state is QueueState.INCOMING
    assert [r.status for r in q2.recipients] == [RcptStatus.DELIVERED, RcptStatus.PENDING]
    assert q2.next_attempt > T0
    bob_msgs = local_store.list_messages(BOB, "INBOX")
    assert [m.uid for m in bob_msgs] == [1]
    assert bob_msgs[0].internal_date == T0


def test_release_of_all_local_message_empties_queue(local_store: Store) -> None:
    """A held message whose recipients are all local leaves the queue once released."""
    local_store.enqueue_batch([message("q1", local(ALICE), local(BOB), hold=True)])
    local_store.release("q1")
    assert local_store.get_queue_entry("q1") is None
    assert len(local_store.list_messages(ALICE, "INBOX")) == 1
    assert len(local_store.list_messages(BOB, "INBOX")) == 1


def test_operator_actions_on_missing_or_wrong_state(local_store: Store) -> None:
    """Unknown ids are NotFound; releasing a message that is not held is refused."""
    local_store.enqueue_batch([message("q1", remote("r@remote.test"))])
    with pytest.raises(StoreError, match="not on hold"):
        local_store.release("q1")
    for action in (local_store.hold, local_store.release, local_store.delete_queue_entry):
        with pytest.raises(NotFound, match="nope"):
            action("nope")


def test_delete_and_blob_in_use(local_store: Store) -> None:
    """Deleting returns the blob; blob_in_use sees queue rows and mailbox copies."""
    other = BlobRef("cd" * 32, 5)
    local_store.enqueue_batch([message("q1", remote("r@remote.test"), blob=other)])
    local_store.enqueue_batch([message("q2", local(ALICE))])
    assert local_store.blob_in_use(other)
    assert local_store.blob_in_use(BLOB)
    assert local_store.delete_queue_entry("q1") == other
    assert local_store.get_queue_entry("q1") is None
    assert not local_store.blob_in_use(other)
    assert local_store.blob_in_use(BLOB)  # still in alice's INBOX
    local_store.remove_user(ALICE)
    assert not local_store.blob_in_use(BLOB)


def test_list_queue_ordering(local_store: Store) -> None:
    """The queue lists oldest first; recipients in their original order."""
    rcpts = [remote(f"r{i}@remote.test") for i in range(5)]
    local_store.enqueue_batch([message("b", *rcpts, offset=5), message("a", rcpts[0], offset=9)])
    entries = local_store.list_queue()
    assert [e.queue_id for e in entries] == ["b", "a"]
    assert [r.idx for r in entries[0].recipients] == [0, 1, 2, 3, 4]
    assert entries[0].received_at.tzinfo is not None


def test_batch_of_500(local_store: Store) -> None:
    """One call stores 500 messages; UIDs cover 1..N for each user without gaps."""
    batch = [
        message(f"q{i:04d}", local(ALICE if i % 2 else BOB), remote(f"r{i}@remote.test"), offset=i)
        for i in range(500)
    ]
    local_store.enqueue_batch(batch)
    assert len(local_store.list_queue()) == 500
    assert [m.uid for m in local_store.list_messages(ALICE, "INBOX")] == list(range(1, 251))
    assert [m.uid for m in local_store.list_messages(BOB, "INBOX")] == list(range(1, 251))


def test_concurrent_enqueue_from_four_stores(local_store: Store, roost_config: RoostConfig) -> None:
    """Four store instances (as four processes or nodes) writing at once get unique UIDs."""
    per_thread, batches = 5, 6
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        s = open_store(roost_config)
        try:
            for b in range(batches):
                s.enqueue_batch(
                    [
                        message(f"t{n}-{b}-{i}", local(ALICE), remote("r@remote.test"))
                        for i in range(per_thread)
                    ]
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = 4 * per_thread * batches
    msgs = local_store.list_messages(ALICE, "INBOX")
    assert [m.uid for m in msgs] == list(range(1, total + 1))
    assert len({m.modseq for m in msgs}) == total
    assert len(local_store.list_queue()) == total


def test_timestamps_are_utc(local_store: Store) -> None:
    """A received_at in another zone comes back as the same instant, in UTC."""
    elsewhere = T0.astimezone(timezone(timedelta(hours=5)))
    msg = replace(message("q1", remote("r@remote.test")), received_at=elsewhere)
    local_store.enqueue_batch([msg])
    entry = local_store.get_queue_entry("q1")
    assert entry is not None
    assert entry.received_at == T0
    assert entry.received_at.utcoffset() == timedelta(0)


def test_release_to_removed_user_keeps_message(local_store: Store) -> None:
    """A held message whose local user vanished stays queued (incoming) with the reason."""
    local_store.enqueue_batch([message("q1", local(BOB), hold=True)])
    local_store.remove_user(BOB)
    local_store.release("q1")
    entry = local_store.get_queue_entry("q1")
    assert entry is not None
    assert entry.state is QueueState.INCOMING
    assert entry.recipients[0].status is RcptStatus.PENDING
    assert entry.recipients[0].last_reply is not None
    assert BOB in entry.recipients[0].last_reply


def test_quarantined_message_goes_to_junk(local_store: Store) -> None:
    """NewMessage.junk delivers the local copies to Junk, or to INBOX for a user without one."""
    local_store.delete_mailbox(BOB, "Junk")
    local_store.enqueue_batch(
        [
            replace(message("q1", local(ALICE), local(BOB)), junk=True),
            message("q2", local(ALICE), offset=1),
        ]
    )
    assert [m.uid for m in local_store.list_messages(ALICE, "Junk")] == [1]
    assert [m.uid for m in local_store.list_messages(ALICE, "INBOX")] == [1]
    assert [m.uid for m in local_store.list_messages(BOB, "INBOX")] == [1]
    assert local_store.list_queue() == []
