"""Greylisting triplets in the store (schema 6): decisions, expiry, purge, and nodes racing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from roost.config.model import RoostConfig
from roost.store import open_store
from roost.store._greylist import decide
from roost.store.interface import GreylistOutcome, GreylistTimes, Store
from tests.store.conftest import T0

TIMES = GreylistTimes()  # 300 s, 2 days, 35 days
NET = "192.0.2.0/24"


def check(
    store: Store, seconds: float, sender: str = "a@remote.test", rcpt: str = "bob@example.org"
) -> GreylistOutcome:
    return store.greylist_check(NET, sender, rcpt, T0 + timedelta(seconds=seconds), TIMES)


def test_schema_version_6(store: Store) -> None:
    assert store.schema_version() >= 6


def test_first_attempt_waits_then_retry_passes_then_whitelisted(store: Store) -> None:
    assert check(store, 0) == GreylistOutcome(False, 300, "new")
    assert check(store, 100) == GreylistOutcome(False, 200, "early")
    assert check(store, 299.5) == GreylistOutcome(False, 1, "early")
    assert check(store, 300) == GreylistOutcome(True, 0, "retried")
    assert check(store, 400) == GreylistOutcome(True, 0, "whitelisted")


def test_early_retries_do_not_restart_the_delay(store: Store) -> None:
    check(store, 0)
    for t in range(10, 300, 50):
        assert not check(store, t).passed
    assert check(store, 301).passed


def test_triplet_parts_are_separate_and_case_insensitive(store: Store) -> None:
    check(store, 0)
    assert check(store, 400, sender="A@Remote.TEST", rcpt="Bob@Example.org").passed
    assert check(store, 400, sender="other@remote.test").state == "new"
    assert check(store, 400, rcpt="carol@example.org").state == "new"
    assert store.greylist_check("198.51.100.0/24", "a@remote.test", "bob@example.org",
                                T0 + timedelta(seconds=400), TIMES).state == "new"  # fmt: skip


def test_retry_after_the_window_starts_over(store: Store) -> None:
    """A retry more than two days after first sight is treated as a new triplet."""
    check(store, 0)
    late = 2 * 86400 + 1
    assert check(store, late) == GreylistOutcome(False, 300, "expired")
    assert check(store, late + 299).state == "early"
    assert check(store, late + 300).passed


def test_whitelisting_lasts_35_days_after_last_seen(store: Store) -> None:
    check(store, 0)
    assert check(store, 300).passed
    day = 86400
    assert check(store, 300 + 30 * day).passed  # refreshes last_seen
    assert check(store, 300 + 64 * day).passed  # 34 days after the last message
    gone = 300 + 64 * day + 35 * day + 1
    assert check(store, gone) == GreylistOutcome(False, 300, "expired")


def test_null_sender_is_a_triplet_too(store: Store) -> None:
    assert check(store, 0, sender="").state == "new"
    assert check(store, 300, sender="").passed


def test_purge_removes_what_can_no_longer_pass(store: Store) -> None:
    check(store, 0, sender="pending-old@x.test")
    check(store, 0, sender="passed-old@x.test")
    check(store, 300, sender="passed-old@x.test")
    day = 86400
    check(store, 35 * day, sender="pending-new@x.test")
    check(store, 30 * day, sender="passed-new@x.test")
    check(store, 30 * day + 300, sender="passed-new@x.test")
    # 36 days in: "pending-old" is past its window, "passed-old" unseen for > 35 days.
    removed = store.greylist_purge(T0 + timedelta(days=36), TIMES)
    assert removed == 2
    assert check(store, 36 * day, sender="passed-new@x.test").passed
    assert check(store, 36 * day, sender="passed-old@x.test").state == "new"
    assert check(store, 36 * day, sender="pending-new@x.test").state == "retried"


def test_naive_time_is_refused(store: Store) -> None:
    from roost.store.interface import StoreError

    with pytest.raises(StoreError):
        store.greylist_check(NET, "a@b.test", "c@d.test", T0.replace(tzinfo=None), TIMES)


def test_decide_is_pure_and_matches_the_store() -> None:
    passed = T0 + timedelta(seconds=300)
    outcome, first, passed_at = decide(T0, passed, passed, passed + timedelta(days=1), TIMES)
    assert outcome.passed
    assert first == T0
    assert passed_at == passed


def test_nodes_racing_on_a_new_triplet_agree(roost_config: RoostConfig) -> None:
    """Two stores (two connections: two nodes) see each new triplet at the same moment:
    exactly one creates it and the other finds it waiting; neither fails."""
    stores = [open_store(roost_config), open_store(roost_config)]
    rounds = 15
    results: list[list[GreylistOutcome]] = [[], []]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2, timeout=30)

    def node(i: int) -> None:
        try:
            for n in range(rounds):
                barrier.wait()
                results[i].append(stores[i].greylist_check(
                    NET, f"s{n}@remote.test", "bob@example.org", T0, TIMES))  # fmt: skip
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=node, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for s in stores:
        s.close()
    assert errors == []
    for n in range(rounds):
        states = sorted(results[i][n].state for i in range(2))
        assert states == ["early", "new"], (n, states)
