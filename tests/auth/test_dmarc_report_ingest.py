"""Reading received DMARC aggregate reports (RFC 7489 §7.2): attachments, bombs, the XML."""

from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import replace
from email.message import EmailMessage

import pytest

from roost.auth.dmarc_ingest import (
    MAX_XML_BYTES,
    ReportError,
    SourceSummary,
    parse_report,
    parse_report_message,
    parse_xml,
    report_xml,
    summarize,
)
from roost.auth.dmarc_report import build_report
from roost.store.types import DmarcEvaluation

DAY = "2024-05-01"
ROW = DmarcEvaluation(
    day=DAY, header_from="roost.test", source_ip="192.0.2.1", envelope_from="roost.test",
    envelope_to="big.test", policy_domain="roost.test", p="reject", sp="reject", pct=100,
    adkim="r", aspf="r", disposition="none", dmarc_dkim="pass", dmarc_spf="pass",
    dkim=(("roost.test", "s1", "pass"),), spf=(("roost.test", "mfrom", "pass"),),
)  # fmt: skip
SPOOF = replace(
    ROW, source_ip="203.0.113.66", disposition="reject", dmarc_dkim="fail", dmarc_spf="fail",
    dkim=(), spf=(("spammer.test", "mfrom", "pass"),), envelope_from="spammer.test",
)  # fmt: skip


def report_document(
    reporter: str, rows: list[tuple[DmarcEvaluation, int]], domain: str = "roost.test"
) -> bytes:
    return build_report(reporter, f"dmarc@{reporter}", f"r-{reporter}", domain, DAY, None, rows)


def report_message(document: bytes, kind: str = "gzip", reporter: str = "big.test") -> bytes:
    """A report mail as big receivers send them: zip, gzip or plain XML, or XML as the body."""
    msg = EmailMessage()
    msg["From"] = f"dmarc@{reporter}"
    msg["To"] = "postmaster@roost.test"
    msg["Subject"] = f"Report Domain: roost.test Submitter: {reporter} Report-ID: <1>"
    if kind == "body":
        msg.set_content(document.decode(), subtype="xml")
        return msg.as_bytes()
    msg.set_content("A DMARC aggregate report.\n")
    if kind == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("report.xml", document)
        msg.add_attachment(buf.getvalue(), maintype="application", subtype="zip",
                           filename=f"{reporter}!roost.test!1!2.zip")  # fmt: skip
    elif kind == "gzip":
        msg.add_attachment(gzip.compress(document), maintype="application", subtype="gzip",
                           filename=f"{reporter}!roost.test!1!2.xml.gz")  # fmt: skip
    elif kind == "x-gzip-by-name":
        msg.add_attachment(gzip.compress(document), maintype="application",
                           subtype="octet-stream", filename="report.xml.gz")  # fmt: skip
    else:
        msg.add_attachment(document, maintype="text", subtype="xml", filename="report.xml")
    return msg.as_bytes()


@pytest.mark.parametrize("kind", ["zip", "gzip", "xml", "body", "x-gzip-by-name"])
def test_every_packaging_reads(kind: str) -> None:
    document = report_document("big.test", [(ROW, 5), (SPOOF, 2)])
    report = parse_report_message(report_message(document, kind))
    assert (report.org_name, report.report_id, report.domain) == (
        "big.test",
        "r-big.test",
        "roost.test",
    )
    assert (report.begin, report.end) == (1714521600, 1714607999)
    good, bad = report.records
    assert (good.source_ip, good.count, good.disposition, good.dkim, good.spf) == (
        "192.0.2.1", 5, "none", "pass", "pass",
    )  # fmt: skip
    assert good.dkim_results == (("roost.test", "s1", "pass"),)
    assert (bad.source_ip, bad.count, bad.disposition, bad.dkim, bad.spf) == (
        "203.0.113.66", 2, "reject", "fail", "fail",
    )  # fmt: skip
    assert bad.spf_results == (("spammer.test", "mfrom", "pass"),)
    assert bad.envelope_from == "spammer.test"


def test_namespaced_report_reads() -> None:
    document = (
        b'<?xml version="1.0"?><feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">'
        b"<report_metadata><org_name>ns.test</org_name><report_id>9</report_id>"
        b"<date_range><begin>10</begin><end>20</end></date_range></report_metadata>"
        b"<policy_published><domain>Roost.Test</domain></policy_published>"
        b"<record><row><source_ip>192.0.2.9</source_ip><count>3</count><policy_evaluated>"
        b"<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated>"
        b"</row><identifiers><header_from>roost.test</header_from></identifiers>"
        b"<auth_results><spf><domain>x.test</domain><result>fail</result></spf></auth_results>"
        b"</record></feedback>"
    )
    report = parse_report(document)
    assert (report.org_name, report.domain, report.begin, report.end) == (
        "ns.test",
        "roost.test",
        10,
        20,
    )
    assert report.records[0].count == 3
    assert report.records[0].spf_results == (("x.test", "", "fail"),)


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b"<feedback>&lol2;</feedback>"
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<feedback>&x;</feedback>"
)


@pytest.mark.parametrize("document", [LAUGHS, EXTERNAL, b"<!DOCTYPE feedback><feedback/>"])
def test_dtds_are_refused(document: bytes) -> None:
    with pytest.raises(ReportError, match="DOCTYPE"):
        parse_xml(document)
    with pytest.raises(ReportError):
        parse_report_message(report_message(document, "gzip"))


def test_bombs_and_junk_are_refused() -> None:
    big = b"<feedback>" + b" " * (MAX_XML_BYTES + 10) + b"</feedback>"
    with pytest.raises(ReportError, match="expands"):
        report_xml(report_message(big, "gzip"))
    with pytest.raises(ReportError, match="expands"):
        report_xml(report_message(big, "zip"))
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(40):
            archive.writestr(f"{i}.xml", b"<feedback/>")
    msg = EmailMessage()
    msg.set_content("x")
    msg.add_attachment(many.getvalue(), maintype="application", subtype="zip", filename="r.zip")
    with pytest.raises(ReportError, match="members"):
        report_xml(msg.as_bytes())
    with pytest.raises(ReportError, match="gzip"):
        report_xml(report_message(b"not gzip", "gzip").replace(b"H4sI", b"AAAA"))
    with pytest.raises(ReportError, match="no zip"):
        report_xml(b"From: a@b.test\r\nSubject: hello\r\n\r\nJust text.\r\n")
    with pytest.raises(ReportError, match="well-formed"):
        parse_report(b"<feedback><unclosed></feedback>")
    with pytest.raises(ReportError, match="not <feedback>"):
        parse_report(b"<html/>")


def test_summary_per_source() -> None:
    one = parse_report(report_document("big.test", [(ROW, 5), (SPOOF, 2)]))
    forwarded = replace(ROW, source_ip="198.51.100.4", dmarc_spf="fail")
    two = parse_report(report_document("mail.test", [(ROW, 1), (forwarded, 4)]))
    other = parse_report(report_document("big.test", [(ROW, 100)], domain="elsewhere.test"))
    assert summarize([one, two, other], "Roost.Test") == [
        SourceSummary("192.0.2.1", 6, 6, 6, 6, (("none", 6),), ("big.test", "mail.test")),
        SourceSummary("198.51.100.4", 4, 4, 0, 4, (("none", 4),), ("mail.test",)),
        SourceSummary("203.0.113.66", 2, 0, 0, 0, (("reject", 2),), ("big.test",)),
    ]
