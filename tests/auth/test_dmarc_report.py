"""DMARC aggregate reports (RFC 7489 §7.2, Appendix C): XML, file name, mail, daily sending."""

from __future__ import annotations

import asyncio
import email
import email.policy
import gzip
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from roost.auth.dkim_verify import DkimResult
from roost.auth.dmarc import DmarcRecord, DmarcResult
from roost.auth.dmarc_report import (
    ReportAddress,
    build_report,
    day_range,
    evaluation_for,
    mailto_destinations,
    record_from_rows,
    report_email,
    report_filename,
    schema_problems,
    send_daily_reports,
)
from roost.config.model import RoostConfig
from roost.dns.resolver import Resolver
from roost.store import open_store
from roost.store.aio import AsyncStore
from roost.store.types import DmarcEvaluation
from tests.dnsserver import DnsTestServer

DAY = "2024-05-01"
BEGIN, END = 1714521600, 1714607999
PASS = DmarcEvaluation(
    day=DAY, header_from="example.test", source_ip="192.0.2.1", envelope_from="example.test",
    envelope_to="roost.test", policy_domain="example.test", p="reject", sp="quarantine",
    pct=100, adkim="r", aspf="s", disposition="none", dmarc_dkim="pass", dmarc_spf="pass",
    dkim=(("example.test", "s1", "pass"),), spf=(("example.test", "mfrom", "pass"),),
)  # fmt: skip
FAIL = replace(
    PASS, source_ip="2001:db8::9", envelope_from="", envelope_to="", disposition="reject",
    dmarc_dkim="fail", dmarc_spf="fail", dkim=(), spf=(), reason="odd local rule",
)  # fmt: skip
FORWARDED = replace(
    PASS, source_ip="198.51.100.4", envelope_from="list.test", dmarc_spf="fail",
    spf=(("list.test", "mfrom", "pass"), ("relay.list.test", "helo", "pass")),
    reason="trusted_forwarder",
)  # fmt: skip
RECORD = DmarcRecord(p="reject", sp="quarantine", aspf="s", domain="example.test")


def _report(rows: list[tuple[DmarcEvaluation, int]]) -> bytes:
    return build_report(
        "mx.roost.test", "postmaster@mx.roost.test", "id-1", "example.test", DAY, RECORD, rows
    )


def test_report_follows_appendix_c() -> None:
    document = _report([(PASS, 3), (FAIL, 1), (FORWARDED, 2)])
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert schema_problems(document) == []
    root = ET.fromstring(document)
    assert [c.tag for c in root] == [
        "version", "report_metadata", "policy_published", "record", "record", "record",
    ]  # fmt: skip
    assert root.findtext("report_metadata/date_range/begin") == str(BEGIN)
    assert root.findtext("report_metadata/date_range/end") == str(END)
    assert root.findtext("report_metadata/report_id") == "id-1"
    published = root.find("policy_published")
    assert published is not None
    assert [(c.tag, c.text) for c in published] == [
        ("domain", "example.test"), ("adkim", "r"), ("aspf", "s"), ("p", "reject"),
        ("sp", "quarantine"), ("pct", "100"), ("fo", "0"),
    ]  # fmt: skip
    first, second, third = root.findall("record")
    assert first.findtext("row/count") == "3"
    assert [c.tag for c in first.find("identifiers") or []] == [
        "envelope_to", "envelope_from", "header_from",
    ]  # fmt: skip
    assert [c.tag for c in first.find("auth_results") or []] == ["dkim", "spf"]
    assert first.findtext("auth_results/dkim/selector") == "s1"
    # no envelope_to; no SPF result recorded: one "none" row, since spf is minOccurs=1
    assert [c.tag for c in second.find("identifiers") or []] == ["envelope_from", "header_from"]
    assert second.findtext("auth_results/spf/result") == "none"
    assert second.findtext("row/policy_evaluated/reason/type") == "other"
    assert second.findtext("row/policy_evaluated/reason/comment") == "odd local rule"
    assert second.findtext("row/source_ip") == "2001:db8::9"
    assert third.findtext("row/policy_evaluated/reason/type") == "trusted_forwarder"
    assert third.find("row/policy_evaluated/reason/comment") is None
    assert [s.findtext("scope") for s in third.findall("auth_results/spf")] == ["mfrom", "helo"]


def test_report_escapes_and_empty_day() -> None:
    odd = replace(PASS, header_from="a<b>&c.test")
    document = _report([(odd, 1)])
    assert b"a&lt;b&gt;&amp;c.test" in document
    assert schema_problems(document) == []
    # a day without rows still has metadata and policy; <record> is missing (minOccurs=1)
    assert schema_problems(_report([])) == ["feedback: missing <record>"]


def test_schema_checker_catches_disorder() -> None:
    document = _report([(PASS, 1)])
    swapped = document.replace(b"<p>reject</p>", b"").replace(b"<fo>", b"<p>reject</p><fo>")
    assert schema_problems(swapped) == [
        "feedback/policy_published: children out of order: domain, adkim, aspf, sp, pct, p, fo"
    ]
    bad = document.replace(b"<version>1.0</version>", b"").replace(
        b"</report_metadata>", b"</report_metadata><version>1.0</version>"
    )
    assert any("out of order" in p for p in schema_problems(bad))
    assert schema_problems(b"<feedback><oops/>") != []
    assert schema_problems(b"<other/>") == ["root element is <other>, not <feedback>"]


def test_policy_from_rows() -> None:
    assert record_from_rows("example.test", [(PASS, 1)]) == DmarcRecord(
        p="reject", sp="quarantine", aspf="s", domain="example.test"
    )
    assert record_from_rows("x.test", []).p == "none"
    no_record = build_report("o", "e@o.test", "id", "example.test", DAY, None, [(PASS, 1)])
    assert ET.fromstring(no_record).findtext("policy_published/sp") == "quarantine"


def test_file_name_and_day_range() -> None:
    assert day_range(DAY) == (BEGIN, END)
    assert report_filename("mx.roost.test", "example.test", DAY) == (
        f"mx.roost.test!example.test!{BEGIN}!{END}.xml.gz"
    )
    with pytest.raises(ValueError):
        day_range("May 1")


def test_mailto_destinations_with_size_limits() -> None:
    got = mailto_destinations(
        ["mailto:a@x.test", "mailto:b@x.test!10m", "mailto:c%40y@x.test!2K", "https://x.test/r",
         "mailto:d@x.test!huge", "mailto:nobody", "mailto:e@x.test?subject=hi!1"]
    )  # fmt: skip
    assert got == [
        ReportAddress("a@x.test", 0),
        ReportAddress("b@x.test", 10 * 2**20),
        ReportAddress("c@y@x.test", 2048),
        ReportAddress("e@x.test", 1),
    ]


def test_report_email() -> None:
    document = _report([(PASS, 1)])
    raw = report_email(
        document, domain="example.test", day=DAY, report_id="id-1", submitter="mx.roost.test",
        from_addr="dmarc@mx.roost.test", to_addrs=["d@x.test"], hostname="mx.roost.test",
    )  # fmt: skip
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    subject = str(msg["Subject"]).strip()  # folded after "Subject:"; unfolds to the same
    assert subject == "Report Domain: example.test Submitter: mx.roost.test Report-ID: <id-1>"
    assert msg.get_content_type() == "multipart/mixed"
    parts = list(msg.iter_parts())
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "application/gzip"
    assert parts[1].get_filename() == f"mx.roost.test!example.test!{BEGIN}!{END}.xml.gz"
    assert gzip.decompress(parts[1].get_payload(decode=True)) == document


def test_send_daily_reports(dns_server: DnsTestServer, roost_config: RoostConfig) -> None:
    dns_server.zones = {
        "_dmarc.example.test": {
            "TXT": [
                "v=DMARC1; p=reject; fo=1; rua=mailto:agg@example.test,"
                "mailto:tiny@example.test!1,mailto:ext@thirdparty.test,"
                "mailto:ok@vendor.test,https://r.example.test/"
            ]
        },
        "example.test._report._dmarc.vendor.test": {"TXT": ["v=DMARC1"]},
        # other.test has rows but no record; norua.test a record without rua: no reports
        "_dmarc.norua.test": {"TXT": ["v=DMARC1; p=none"]},
    }
    astore = AsyncStore(open_store(roost_config))
    astore.store.record_dmarc(
        [PASS, PASS, replace(PASS, policy_domain="other.test"),
         replace(PASS, policy_domain="norua.test"), replace(PASS, day="2024-05-02")]
    )  # fmt: skip
    resolver = Resolver([dns_server.address], timeout=2)
    sent: list[tuple[str, list[str], bytes]] = []

    async def submit(sender: str, rcpts: list[str], message: bytes) -> None:
        sent.append((sender, rcpts, message))

    async def body() -> int:
        return await send_daily_reports(
            astore, resolver, submit, DAY, organization="mx.roost.test",
            contact="postmaster@mx.roost.test", from_addr="dmarc@mx.roost.test",
            hostname="mx.roost.test",
        )  # fmt: skip

    try:
        count = asyncio.run(body())
    finally:
        astore.close()
    assert count == 2
    assert [rcpts for _, rcpts, _ in sent] == [["agg@example.test"], ["ok@vendor.test"]]
    msg = email.message_from_bytes(sent[0][2], policy=email.policy.default)
    attachment = list(msg.iter_parts())[1]
    document = gzip.decompress(attachment.get_payload(decode=True))
    assert schema_problems(document) == []
    root = ET.fromstring(document)
    assert root.findtext("record/row/count") == "2"
    assert root.findtext("policy_published/fo") == "1"


def test_evaluation_for_a_verdict() -> None:
    record = DmarcRecord(p="reject", sp="none", pct=50, adkim="s", domain="example.test")
    verdict = DmarcResult("fail", "none", "news.example.test", "example.test", record, False,
                          False, "", "none", "no aligned SPF or DKIM pass")  # fmt: skip
    dkim = [DkimResult("fail", "example.test", "s1", "rsa-sha256", "AAAAAAAA", "body hash"),
            DkimResult("permerror", "", "", "", "")]  # fmt: skip
    row = evaluation_for(
        verdict, source_ip="192.0.2.1", mail_from="Bounce@Example.TEST", rcpt_domain="Roost.test",
        spf=[("example.test", "mfrom", "softfail")], dkim=dkim, disposition="quarantine",
        reason="local_policy", when=datetime(2024, 5, 1, 23, 59, tzinfo=UTC),
    )  # fmt: skip
    assert row == DmarcEvaluation(
        day=DAY, header_from="news.example.test", source_ip="192.0.2.1",
        envelope_from="example.test", envelope_to="roost.test", policy_domain="example.test",
        p="reject", sp="none", pct=50, adkim="s", aspf="r", disposition="quarantine",
        dmarc_dkim="fail", dmarc_spf="fail", dkim=(("example.test", "s1", "fail"),),
        spf=(("example.test", "mfrom", "softfail"),), reason="local_policy",
    )  # fmt: skip
    none = DmarcResult("none", "none", "x.test", "x.test", None, False, False, "", "none")
    assert evaluation_for(none, source_ip="192.0.2.1", mail_from="", rcpt_domain="r.test",
                          spf=[], dkim=[]) is None  # fmt: skip
