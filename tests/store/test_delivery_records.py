"""Delivery bookkeeping outside the queue: suppression lists, TLS-RPT counters, MTA-STS cache."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from roost.store.interface import NotFound, Store
from roost.store.types import CachedPolicy, Suppression, TlsResult, TlsResultCount
from tests.store.conftest import T0

DAY = "2026-03-01"
POLICY = "version: STSv1\nmode: enforce\nmx: mx1.remote.test\nmax_age: 86400"


def suppression(sender: str, address: str, reason: str = "550 5.1.1 no such user") -> Suppression:
    return Suppression(sender, address, reason, "bounce", T0)


# --- suppressions --------------------------------------------------------------------------


def test_suppression_crud_is_per_sender_and_case_insensitive(store: Store) -> None:
    store.add_suppression(suppression("Example.ORG", "Bob@Remote.TEST"))
    store.add_suppression(suppression("example.org", "carol@remote.test"))
    store.add_suppression(suppression("other.test", "bob@remote.test"))
    found = store.find_suppression("EXAMPLE.org", "BOB@remote.test")
    assert found == suppression("example.org", "bob@remote.test")
    assert store.find_suppression("third.test", "bob@remote.test") is None
    assert [(s.sender_domain, s.address) for s in store.list_suppressions()] == [
        ("example.org", "bob@remote.test"),
        ("example.org", "carol@remote.test"),
        ("other.test", "bob@remote.test"),
    ]
    assert [s.address for s in store.list_suppressions("other.test")] == ["bob@remote.test"]
    store.remove_suppression("example.org", "Bob@remote.test")
    assert store.find_suppression("example.org", "bob@remote.test") is None
    with pytest.raises(NotFound):
        store.remove_suppression("example.org", "bob@remote.test")
    assert len(store.list_suppressions()) == 2


def test_add_suppression_replaces(store: Store) -> None:
    """Adding again keeps one entry carrying the newest reason, source and time."""
    store.add_suppression(suppression("example.org", "bob@remote.test"))
    newer = Suppression("example.org", "BOB@remote.test", "complaint", "admin", T0 + timedelta(1))
    store.add_suppression(newer)
    assert store.list_suppressions() == [replace(newer, address="bob@remote.test")]


def test_suppression_accepts_any_bounced_address(store: Store) -> None:
    """A quoted local part with a space is still recordable (and found again)."""
    store.add_suppression(suppression("example.org", '"John Doe"@Remote.test'))
    assert store.find_suppression("example.org", '"john doe"@remote.test') is not None


# --- TLS-RPT counters ----------------------------------------------------------------------


def tls(success: bool, result_type: str = "", mx: str = "mx1.remote.test", **kw: str) -> TlsResult:
    return TlsResult(
        policy_domain=kw.get("domain", "remote.test"),
        day=kw.get("day", DAY),
        policy_type="sts",
        policy_string=kw.get("policy", POLICY),
        mx_host=mx,
        receiving_ip="192.0.2.25",
        result_type=result_type,
        success=success,
    )


def count(successes: int, failures: int, result_type: str = "", **kw: str) -> TlsResultCount:
    return TlsResultCount("remote.test", DAY, "sts", kw.get("policy", POLICY),
                          kw.get("mx", "mx1.remote.test"), "192.0.2.25", result_type,
                          successes, failures)  # fmt: skip


def test_tls_results_are_summed_per_key(store: Store) -> None:
    """Within one batch and across batches, same key adds up; a new key gets its own row."""
    store.record_tls_results([tls(True), tls(True), tls(False, "certificate-expired")])
    store.record_tls_results([tls(True), tls(False, "certificate-expired")])
    store.record_tls_results([tls(True, mx="mx2.remote.test"), tls(True, domain="REMOTE.test")])
    store.record_tls_results([])
    assert store.tls_result_counts("remote.test", DAY) == [
        count(4, 0),
        count(0, 2, "certificate-expired"),
        count(1, 0, mx="mx2.remote.test"),
    ]


def test_tls_report_domains_and_days(store: Store) -> None:
    store.record_tls_results(
        [tls(True), tls(True, domain="b.test"), tls(True, domain="a.test", day="2026-03-02")]
    )
    assert store.tls_report_domains(DAY) == ["b.test", "remote.test"]
    assert store.tls_report_domains("2026-03-02") == ["a.test"]
    assert store.tls_report_domains("2026-03-03") == []
    assert store.tls_result_counts("remote.test", "2026-03-02") == []


def test_tls_results_with_a_huge_policy(store: Store) -> None:
    """The remote domain picks its policy text; a long one is counted like any other."""
    huge = POLICY + "".join(f"\nmx: mx{i}.remote.test" for i in range(3000))
    store.record_tls_results([tls(True, policy=huge), tls(True, policy=huge), tls(True)])
    counts = store.tls_result_counts("remote.test", DAY)
    assert counts == [count(1, 0), count(2, 0, policy=huge)]  # ordered by the policy text


# --- MTA-STS policy cache ------------------------------------------------------------------


def test_mta_sts_cache(store: Store) -> None:
    """Absent is None; put stores, put again replaces; expired entries are still returned."""
    assert store.get_mta_sts_policy("remote.test") is None
    first = CachedPolicy("Remote.TEST", "20260301", POLICY, T0, T0 + timedelta(days=1))
    store.put_mta_sts_policy(first)
    assert store.get_mta_sts_policy("remote.test") == replace(first, domain="remote.test")
    second = CachedPolicy("remote.test", "20260302", "version: STSv1\nmode: testing", T0,
                          T0 - timedelta(seconds=1))  # fmt: skip
    store.put_mta_sts_policy(second)
    assert store.get_mta_sts_policy("REMOTE.test") == second
    assert store.get_mta_sts_policy("other.test") is None
