"""record_attempts: many messages' outcomes in one transaction, each applied or refused alone."""

from __future__ import annotations

from roost.store.interface import Store, StoreError
from roost.store.types import RcptStatus
from tests.store.test_leasing import claim, entry, queue_remote, result

S = RcptStatus


def test_batch_applies_each_message_on_its_own(store: Store) -> None:
    """A lost lease refuses only that message; the others in the batch are recorded."""
    for qid in ("q1", "q2", "q3"):
        queue_remote(store, qid)
    assert sorted(claim(store, "node-a")) == ["q1", "q2", "q3"]
    store.hold("q2")  # the operator takes q2 away while it is being delivered
    errors = store.record_attempts(
        "node-a",
        [
            ("q1", result((0, S.DELIVERED, "250 ok"), queue_id="q1")),
            ("q2", result((0, S.DELIVERED, "250 ok"), queue_id="q2")),
            ("q3", result((0, S.DEFERRED, "451 later"), queue_id="q3")),
        ],
    )
    assert errors[0] is None
    assert isinstance(errors[1], StoreError)
    assert errors[2] is None
    assert store.get_queue_entry("q1") is None  # delivered: gone from the queue
    assert [r.status for r in entry(store, "q2").recipients] == [S.PENDING]
    assert store.list_attempts("q2") == []
    assert [r.status for r in entry(store, "q3").recipients] == [S.DEFERRED]
    assert len(store.list_attempts("q3")) == 1


def test_empty_batch(store: Store) -> None:
    """Nothing to record is a no-op."""
    assert store.record_attempts("node-a", []) == []
