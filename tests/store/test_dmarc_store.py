"""DMARC aggregate counters in the store (schema 7): one row per distinct evaluation per day."""

from __future__ import annotations

from dataclasses import replace

from roost.store.interface import Store
from roost.store.types import DmarcEvaluation

DAY = "2026-03-01"
ROW = DmarcEvaluation(
    day=DAY,
    header_from="example.test",
    source_ip="192.0.2.1",
    envelope_from="example.test",
    envelope_to="roost.test",
    policy_domain="example.test",
    p="reject",
    sp="reject",
    pct=100,
    adkim="r",
    aspf="r",
    disposition="none",
    dmarc_dkim="pass",
    dmarc_spf="pass",
    dkim=(("example.test", "s1", "pass"),),
    spf=(("example.test", "mfrom", "pass"),),
)


def test_schema_version_7(store: Store) -> None:
    assert store.schema_version() >= 7


def test_identical_rows_are_counted_across_batches(store: Store) -> None:
    store.record_dmarc([ROW, ROW, ROW])
    store.record_dmarc([ROW])
    assert store.dmarc_rows("example.test", DAY) == [(ROW, 4)]


def test_any_difference_is_another_row(store: Store) -> None:
    failing = replace(
        ROW, source_ip="198.51.100.9", dmarc_dkim="fail", dmarc_spf="fail",
        disposition="reject", dkim=(), spf=(("example.test", "mfrom", "fail"),),
    )  # fmt: skip
    forwarded = replace(
        ROW, spf=(("fwd.test", "mfrom", "pass"),), dmarc_spf="fail", reason="trusted_forwarder"
    )
    two_sigs = replace(ROW, dkim=(("example.test", "s1", "pass"), ("esp.test", "k", "fail")))
    store.record_dmarc([ROW, failing, failing, forwarded, two_sigs])
    got = dict(store.dmarc_rows("example.test", DAY))
    assert got == {ROW: 1, failing: 2, forwarded: 1, two_sigs: 1}
    ips = [row.source_ip for row, _ in store.dmarc_rows("example.test", DAY)]
    assert ips == sorted(ips)


def test_days_and_domains_are_separate(store: Store) -> None:
    other_day = replace(ROW, day="2026-03-02")
    other_domain = replace(ROW, policy_domain="Other.Test", header_from="Other.Test")
    store.record_dmarc([ROW, other_day, other_domain, other_domain])
    assert store.dmarc_rows("example.test", DAY) == [(ROW, 1)]
    assert store.dmarc_rows("example.test", "2026-03-02") == [(other_day, 1)]
    normal = replace(other_domain, policy_domain="other.test", header_from="other.test")
    assert store.dmarc_rows("OTHER.test", DAY) == [(normal, 2)]
    assert store.dmarc_report_domains(DAY) == ["example.test", "other.test"]
    assert store.dmarc_report_domains("2026-03-02") == ["example.test"]
    assert store.dmarc_report_domains("2026-03-03") == []
    assert store.dmarc_rows("example.test", "2026-03-03") == []


def test_empty_batch_is_a_no_op(store: Store) -> None:
    store.record_dmarc([])
    assert store.dmarc_report_domains(DAY) == []
