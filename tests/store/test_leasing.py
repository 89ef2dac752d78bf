"""Outbound delivery's queue side: leases, takeover after expiry, attempts, retry, release."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from roost.config.model import RoostConfig
from roost.store import open_store
from roost.store.interface import NotFound, Store, StoreError
from roost.store.types import (
    AttemptLog,
    AttemptResult,
    QueueEntry,
    QueueState,
    RcptOutcome,
    RcptStatus,
)
from tests.store.conftest import T0, message, remote

NOW = T0 + timedelta(minutes=1)
LEASE = timedelta(minutes=5)
LATER = NOW + timedelta(minutes=30)
S = RcptStatus


def queue_remote(
    store: Store, queue_id: str, rcpts: int = 1, offset: int = 0, hold: bool = False
) -> None:
    addresses = [remote(f"r{i}@remote.test") for i in range(rcpts)]
    store.enqueue_batch([message(queue_id, *addresses, offset=offset, hold=hold)])


def claim(store: Store, owner: str = "node-a", at: datetime = NOW, limit: int = 10) -> list[str]:
    return [e.queue_id for e in store.claim_due(owner, at, limit, LEASE)]


def entry(store: Store, queue_id: str) -> QueueEntry:
    found = store.get_queue_entry(queue_id)
    assert found is not None
    return found


def log(queue_id: str, idxs: tuple[int, ...], reply: str, status: RcptStatus) -> AttemptLog:
    return AttemptLog(queue_id, NOW, idxs, "mx1.remote.test", "192.0.2.25", 25,
                      "TLSv1.3 TLS_AES_256_GCM_SHA384", reply, status)  # fmt: skip


def result(
    *outcomes: tuple[int, RcptStatus, str],
    queue_id: str = "q1",
    next_attempt: datetime | None = LATER,
    warned: bool = False,
) -> AttemptResult:
    """One attempt log per outcome."""
    return AttemptResult(
        outcomes=tuple(RcptOutcome(i, s, r) for i, s, r in outcomes),
        attempts=tuple(log(queue_id, (i,), r, s) for i, s, r in outcomes),
        next_attempt=next_attempt,
        warned=warned,
    )


# --- claiming ------------------------------------------------------------------------------


def test_claim_takes_due_messages_oldest_first(store: Store) -> None:
    """Incoming and due, by next_attempt; not held, not future ones; limit respected."""
    queue_remote(store, "q2", offset=20)
    queue_remote(store, "q1", rcpts=3, offset=10)
    queue_remote(store, "q0", offset=0)
    queue_remote(store, "held", offset=0, hold=True)
    queue_remote(store, "future", offset=3600)
    claimed = store.claim_due("node-a", NOW, 2, LEASE)
    assert [e.queue_id for e in claimed] == ["q0", "q1"]
    assert {e.state for e in claimed} == {QueueState.ACTIVE}
    assert [r.address for r in claimed[1].recipients] == [f"r{i}@remote.test" for i in range(3)]
    assert claimed[1] == entry(store, "q1")
    assert claim(store, limit=10) == ["q2"]
    assert claim(store, "node-b") == []  # every due message is leased now
    assert entry(store, "held").state is QueueState.HOLD
    assert entry(store, "future").state is QueueState.INCOMING
    assert store.claim_due("node-a", NOW, 0, LEASE) == []


def test_expired_lease_is_taken_over(store: Store) -> None:
    """A second owner gets the message only after the first lease expired; the first owner's
    late result is then refused."""
    queue_remote(store, "q1")
    assert claim(store, "node-a") == ["q1"]
    assert claim(store, "node-b", NOW + LEASE - timedelta(seconds=1)) == []
    assert claim(store, "node-b", NOW + LEASE) == []  # expires after lease_until, not at it
    assert claim(store, "node-b", NOW + LEASE + timedelta(microseconds=1)) == ["q1"]
    with pytest.raises(StoreError, match="lease lost"):
        store.record_attempt("q1", "node-a", result((0, S.DELIVERED, "250 ok")))
    with pytest.raises(StoreError, match="lease lost"):
        store.release_lease("q1", "node-a", LATER)
    store.record_attempt("q1", "node-b", result((0, S.DELIVERED, "250 ok")))
    assert store.get_queue_entry("q1") is None


def test_claim_refuses_non_positive_lease(store: Store) -> None:
    """A zero lease would make a message claimable by everyone at once."""
    with pytest.raises(StoreError, match="lease must be positive"):
        store.claim_due("node-a", NOW, 1, timedelta(0))


def _claim_all(store: Store, owner: str, start: threading.Barrier, got: list[str]) -> None:
    start.wait(timeout=30)
    while batch := claim(store, owner, limit=3):
        got.extend(batch)


def test_concurrent_claims_are_disjoint(store: Store, roost_config: RoostConfig) -> None:
    """Two nodes (store instances) claiming at once split the queue: nothing twice, nothing
    missed."""
    store.enqueue_batch([message(f"q{i:02}", remote("r@remote.test"), offset=i) for i in range(40)])
    stores = [open_store(roost_config), open_store(roost_config)]
    start = threading.Barrier(2)
    got: dict[str, list[str]] = {"a": [], "b": []}
    threads = [
        threading.Thread(target=_claim_all, args=(s, owner, start, got[owner]))
        for s, owner in zip(stores, got, strict=True)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
    finally:
        for s in stores:
            s.close()
    assert not set(got["a"]) & set(got["b"])
    assert sorted(got["a"] + got["b"]) == [f"q{i:02}" for i in range(40)]
    assert {e.state for e in store.list_queue()} == {QueueState.ACTIVE}


# --- recording attempts --------------------------------------------------------------------


def test_record_attempt_with_mixed_outcomes(store: Store) -> None:
    """Delivered, deferred and bounced in one attempt: the message is deferred for the one left,
    the lease is cleared, attempts counts up and the logs read back as written."""
    queue_remote(store, "q1", rcpts=3)
    claim(store)
    attempt = result(
        (0, S.DELIVERED, "250 2.0.0 ok"),
        (1, S.DEFERRED, "451 4.7.1 try later"),
        (2, S.BOUNCED, "550 5.1.1 no such user"),
    )
    store.record_attempt("q1", "node-a", attempt)
    after = entry(store, "q1")
    assert (after.state, after.attempts, after.next_attempt, after.warned) == (
        QueueState.DEFERRED, 1, LATER, False,
    )  # fmt: skip
    assert [(r.status, r.last_reply) for r in after.recipients] == [
        (S.DELIVERED, "250 2.0.0 ok"),
        (S.DEFERRED, "451 4.7.1 try later"),
        (S.BOUNCED, "550 5.1.1 no such user"),
    ]
    assert store.list_attempts("q1") == list(attempt.attempts)
    assert claim(store, "node-b", LATER - timedelta(seconds=1)) == []  # not due yet
    [again] = store.claim_due("node-b", LATER, 10, LEASE)
    assert [r.status for r in again.recipients] == [S.DELIVERED, S.DEFERRED, S.BOUNCED]


def test_message_leaves_queue_when_all_final(store: Store) -> None:
    """Second attempt settles the last recipient: queue rows and attempt logs go, the blob is
    no longer in use (the caller deletes it); `warned` stuck after the first attempt."""
    queue_remote(store, "q1", rcpts=2)
    claim(store)
    first = result((0, S.BOUNCED, "550 no"), (1, S.DEFERRED, "451 later"), warned=True)
    store.record_attempt("q1", "node-a", first)
    assert entry(store, "q1").warned
    claim(store, "node-a", LATER)
    store.record_attempt("q1", "node-a", result((1, S.DEFERRED, "451 still"), warned=False))
    assert entry(store, "q1").warned  # a delay DSN is sent once
    assert entry(store, "q1").attempts == 2
    assert len(store.list_attempts("q1")) == 3
    claim(store, "node-a", LATER)
    blob = entry(store, "q1").blob
    store.record_attempt("q1", "node-a", result((1, S.DELIVERED, "250 ok"), next_attempt=None))
    assert store.get_queue_entry("q1") is None
    assert store.list_attempts("q1") == []
    assert not store.blob_in_use(blob)


def test_record_attempt_refused_without_the_lease(store: Store) -> None:
    """Unclaimed, claimed by someone else, or gone: nothing is written."""
    queue_remote(store, "q1")
    done = result((0, S.DELIVERED, "250 ok"))
    with pytest.raises(StoreError, match="lease lost"):
        store.record_attempt("q1", "node-a", done)  # never claimed
    claim(store, "node-a")
    with pytest.raises(StoreError, match="lease lost"):
        store.record_attempt("q1", "node-b", done)
    with pytest.raises(NotFound, match="lease lost"):
        store.record_attempt("nope", "node-a", result((0, S.DELIVERED, "x"), queue_id="nope"))
    assert [r.status for r in entry(store, "q1").recipients] == [S.PENDING]
    assert store.list_attempts("q1") == []
    store.hold("q1")  # the operator takes it away mid-delivery
    with pytest.raises(StoreError, match="lease lost"):
        store.record_attempt("q1", "node-a", done)


def test_record_attempt_refuses_inconsistent_results(store: Store) -> None:
    """Caller bugs roll back whole: an index the message lacks, a log for another message,
    recipients left without a next attempt. The lease is still held afterwards."""
    queue_remote(store, "q1", rcpts=2)
    claim(store)
    with pytest.raises(StoreError, match=r"no recipient\(s\) \[5\]"):
        store.record_attempt("q1", "node-a", result((0, S.DELIVERED, "ok"), (5, S.BOUNCED, "x")))
    with pytest.raises(StoreError, match="attempt logs for"):
        store.record_attempt("q1", "node-a", result((0, S.DELIVERED, "ok"), queue_id="q9"))
    with pytest.raises(StoreError, match="no next_attempt"):
        store.record_attempt("q1", "node-a", result((0, S.DELIVERED, "ok"), next_attempt=None))
    after = entry(store, "q1")
    assert after.state is QueueState.ACTIVE
    assert [r.status for r in after.recipients] == [S.PENDING, S.PENDING]
    assert store.list_attempts("q1") == []
    store.record_attempt("q1", "node-a", result((0, S.DELIVERED, "ok")))


def test_delete_queue_entry_removes_attempt_logs(store: Store) -> None:
    queue_remote(store, "q1", rcpts=2)
    claim(store)
    store.record_attempt("q1", "node-a", result((0, S.DEFERRED, "451")))
    store.delete_queue_entry("q1")
    assert store.list_attempts("q1") == []


# --- giving back and retrying --------------------------------------------------------------


def test_release_lease_restores_previous_state(store: Store) -> None:
    """Untried: back to INCOMING; after an attempt: back to DEFERRED; due when asked."""
    queue_remote(store, "q1", rcpts=2)
    claim(store)
    with pytest.raises(StoreError, match="lease lost"):
        store.release_lease("q1", "node-b", LATER)
    store.release_lease("q1", "node-a", LATER)
    released = entry(store, "q1")
    assert (released.state, released.next_attempt, released.attempts) == (
        QueueState.INCOMING, LATER, 0,
    )  # fmt: skip
    assert claim(store, "node-b") == []  # not due until LATER
    assert claim(store, "node-b", LATER) == ["q1"]
    store.record_attempt("q1", "node-b", result((0, S.DEFERRED, "451")))
    later = LATER + timedelta(hours=1)
    claim(store, "node-b", LATER)
    store.release_lease("q1", "node-b", later)
    assert (entry(store, "q1").state, entry(store, "q1").next_attempt) == (
        QueueState.DEFERRED, later,
    )  # fmt: skip


def test_retry_now(store: Store) -> None:
    """Deferred and incoming become due now; held and active are left; one ID or all."""
    queue_remote(store, "deferred")
    queue_remote(store, "active", offset=1)
    claim(store)
    store.record_attempt("deferred", "node-a", result((0, S.DEFERRED, "451"), queue_id="deferred"))
    queue_remote(store, "incoming", offset=3600)
    queue_remote(store, "early", offset=-60)
    queue_remote(store, "held", offset=3600, hold=True)
    assert store.retry_now(None, NOW) == 3
    states = {e.queue_id: (e.state, e.next_attempt) for e in store.list_queue()}
    assert states["deferred"] == (QueueState.DEFERRED, NOW)
    assert states["incoming"] == (QueueState.INCOMING, NOW)
    assert states["early"] == (QueueState.INCOMING, T0 - timedelta(seconds=60))
    assert states["held"] == (QueueState.HOLD, T0 + timedelta(hours=1))
    assert states["active"][0] is QueueState.ACTIVE
    assert store.retry_now("incoming", NOW) == 1
    assert store.retry_now("held", NOW) == 0
    with pytest.raises(NotFound):
        store.retry_now("nope", NOW)
