"""`roost dmarc report DOMAIN [--date]` prints the RFC 7489 Appendix C XML from the store."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from roost.auth.dmarc_report import schema_problems
from roost.store.types import DmarcEvaluation, NewRecipient
from tests.auth.test_dmarc_report_ingest import ROW as INGEST_ROW
from tests.auth.test_dmarc_report_ingest import SPOOF, report_document, report_message
from tests.cli.helpers import Run, as_json, enqueue, open_from

ROW = DmarcEvaluation(
    day="2024-05-01", header_from="example.test", source_ip="192.0.2.1",
    envelope_from="example.test", envelope_to="roost.test", policy_domain="example.test",
    p="quarantine", sp="none", pct=50, adkim="s", aspf="r", disposition="none",
    dmarc_dkim="pass", dmarc_spf="fail", dkim=(("example.test", "s1", "pass"),),
    spf=(("bounce.other.test", "mfrom", "pass"),),
)  # fmt: skip


def _record(config_file: Path, *rows: DmarcEvaluation) -> None:
    store = open_from(config_file)
    try:
        store.record_dmarc(rows)
    finally:
        store.close()


def test_report_for_a_day(roost: Run, config_file: Path) -> None:
    _record(config_file, ROW, ROW, replace(ROW, source_ip="192.0.2.2"))
    out = roost("dmarc", "report", "Example.Test", "--date", "2024-05-01").stdout
    assert schema_problems(out.encode()) == []
    root = ET.fromstring(out)
    assert root.findtext("report_metadata/org_name") == "mx.roost.test"
    assert root.findtext("report_metadata/email") == "postmaster@mx.roost.test"
    assert root.findtext("report_metadata/date_range/begin") == "1714521600"
    assert root.findtext("policy_published/p") == "quarantine"
    assert root.findtext("policy_published/pct") == "50"
    rows = [(r.findtext("row/source_ip"), r.findtext("row/count")) for r in root.iter("record")]
    assert rows == [("192.0.2.1", "2"), ("192.0.2.2", "1")]


def test_default_day_is_yesterday_utc(roost: Run, config_file: Path) -> None:
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    _record(config_file, replace(ROW, day=yesterday))
    root = ET.fromstring(roost("dmarc", "report", "example.test").stdout)
    assert len(root.findall("record")) == 1


def test_bad_date_is_refused(roost: Run) -> None:
    result = roost("dmarc", "report", "example.test", "--date", "May 1", ok=False)
    assert result.exit_code != 0
    assert "YYYY-MM-DD" in result.output


# --- roost dmarc sources -------------------------------------------------------------------------


def _deliver(config_file: Path, user: str, message: bytes) -> None:
    rcpt = NewRecipient(user, deliver_to=user, delivery_prefix=b"Delivered-To: " + user.encode())
    enqueue(config_file, message, (rcpt,))


@pytest.fixture
def reports(roost: Run, config_file: Path) -> None:
    """Two reporters' reports in the INBOX postmaster@roost.test goes to (an alias of bob)."""
    roost("domain", "add", "roost.test")
    roost("user", "add", "bob@roost.test", "--password-stdin", input="pw\n")
    roost("alias", "add", "postmaster@roost.test", "bob@roost.test")
    big = report_document("big.test", [(INGEST_ROW, 5), (SPOOF, 2)])
    forwarded = replace(INGEST_ROW, source_ip="198.51.100.4", dmarc_spf="fail")
    small = report_document("mail.test", [(INGEST_ROW, 1), (forwarded, 4)])
    _deliver(config_file, "bob@roost.test", report_message(big, "zip"))
    _deliver(config_file, "bob@roost.test", report_message(small, "gzip", reporter="mail.test"))
    _deliver(
        config_file, "bob@roost.test", b"From: a@b.test\r\nSubject: hi\r\n\r\nnot a report\r\n"
    )


def test_sources_json(roost: Run, reports: None) -> None:
    rows = as_json(roost("dmarc", "sources", "roost.test", "--json"))
    assert [(r["source_ip"], r["messages"], r["dmarc_pass"], r["dmarc_fail"]) for r in rows] == [
        ("192.0.2.1", 6, 6, 0), ("198.51.100.4", 4, 4, 0), ("203.0.113.66", 2, 0, 2),
    ]  # fmt: skip
    assert rows[0]["reporters"] == ["big.test", "mail.test"]
    assert rows[1]["spf_aligned"] == 0
    assert rows[2]["dispositions"] == {"reject": 2}


def test_sources_table_and_options(roost: Run, reports: None) -> None:
    out = roost("dmarc", "sources", "roost.test").stdout
    assert "203.0.113.66" in out
    assert "0 pass, 2 fail" in out
    assert "reject 2" in out
    same = as_json(roost("dmarc", "sources", "roost.test", "--mailbox", "bob@roost.test", "--json"))
    assert len(same) == 3
    empty = roost("dmarc", "sources", "roost.test", "--folder", "Junk").stdout
    assert "no DMARC reports about roost.test in Junk" in empty
    missing = roost("dmarc", "sources", "roost.test", "--folder", "Nope", ok=False)
    assert "no folder 'Nope'" in missing.output
    nobody = roost("dmarc", "sources", "other.test", ok=False)
    assert "postmaster@other.test is not a local mailbox" in nobody.output
