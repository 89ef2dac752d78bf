"""Reading DMARC aggregate reports (RFC 7489 §7.2) that other receivers mail to a local rua.

A report arrives as mail from anyone, so everything here is defensive: the attachment is found
by type or name (zip, gzip or plain XML, or the body itself), decompressed with caps on size
and on zip members (a small zip can expand to gigabytes), and the XML is parsed only when it
has no DOCTYPE: stdlib ElementTree never fetches external entities, and refusing a DTD also
rules out entity-expansion bombs ("billion laughs"). Element names are matched without their
namespace, so reports in the RFC 7489 form and in later drafts' namespaced form both read.
"""

from __future__ import annotations

import email
import email.policy
import gzip
import io
import xml.etree.ElementTree as ET
import xml.parsers.expat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message

MAX_XML_BYTES = 20 * 2**20  # decompressed report size cap
MAX_ZIP_MEMBERS = 16
_ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/x-zip"}
_GZIP_TYPES = {"application/gzip", "application/x-gzip", "application/gzip-compressed"}
_XML_TYPES = {"text/xml", "application/xml"}


class ReportError(ValueError):
    """The message carries no readable aggregate report; the text says why."""


# --- XML, safely ---------------------------------------------------------------------------------


def _refuse_dtd(*args: object) -> None:
    raise ReportError("XML with a DOCTYPE or entity declarations is refused")


def parse_xml(data: bytes) -> ET.Element:
    """Parse XML that has no DOCTYPE/ENTITY declarations; ``ReportError`` otherwise.

    A first pass with expat stops at the DOCTYPE before any entity is declared; only then
    does ElementTree build the tree.
    """
    if len(data) > MAX_XML_BYTES:
        raise ReportError(f"XML larger than {MAX_XML_BYTES} bytes")
    checker = xml.parsers.expat.ParserCreate()
    checker.StartDoctypeDeclHandler = _refuse_dtd
    checker.EntityDeclHandler = _refuse_dtd
    try:
        checker.Parse(data, True)
        return ET.fromstring(data)  # noqa: S314 - no DTD, so no entities to expand
    except (xml.parsers.expat.ExpatError, ET.ParseError) as exc:
        raise ReportError(f"not well-formed XML: {exc}") from None


# --- finding and unpacking the attachment --------------------------------------------------------


def _gunzip(data: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            out = f.read(MAX_XML_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise ReportError(f"bad gzip data: {exc}") from None
    if len(out) > MAX_XML_BYTES:
        raise ReportError(f"report expands to more than {MAX_XML_BYTES} bytes")
    return out


def _unzip(data: bytes) -> bytes:
    """The first .xml member (else the only member), read with the size cap."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if not members or len(members) > MAX_ZIP_MEMBERS:
                raise ReportError(f"zip has {len(members)} members")
            xml_members = [m for m in members if m.filename.lower().endswith(".xml")]
            member = (xml_members or members)[0]
            with archive.open(member) as f:
                out = f.read(MAX_XML_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ReportError(f"bad zip data: {exc}") from None
    if len(out) > MAX_XML_BYTES:
        raise ReportError(f"report expands to more than {MAX_XML_BYTES} bytes")
    return out


def _kind(part: Message) -> str:
    """ "zip", "gzip", "xml" or "" from the part's type, else its file name."""
    ctype = part.get_content_type()
    name = (part.get_filename() or "").lower()
    if ctype in _ZIP_TYPES or name.endswith(".zip"):
        return "zip"
    if ctype in _GZIP_TYPES or name.endswith((".gz", ".gzip")):
        return "gzip"
    if ctype in _XML_TYPES or name.endswith(".xml"):
        return "xml"
    return ""


def _unpack(kind: str, payload: bytes) -> bytes:
    if kind == "zip":
        return _unzip(payload)
    if kind == "gzip":
        return _gunzip(payload)
    return payload


def report_xml(message: bytes) -> bytes:
    """The report document carried by a message; ``ReportError`` when there is none."""
    msg = email.message_from_bytes(message, policy=email.policy.compat32)
    for part in msg.walk():
        if part.is_multipart():
            continue
        kind = _kind(part)
        if kind:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload:
                return _unpack(kind, payload)
    body = msg.get_payload(decode=True) if not msg.is_multipart() else None
    if isinstance(body, bytes) and body.lstrip().startswith(b"<"):
        return body
    raise ReportError("no zip, gzip or XML attachment")


# --- the document --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """One <record>: a source IP, how many messages, what the reporter applied and saw."""

    source_ip: str
    count: int
    disposition: str
    dkim: str  # policy_evaluated/dkim: the aligned DKIM verdict, pass | fail
    spf: str  # policy_evaluated/spf: the aligned SPF verdict
    header_from: str
    envelope_from: str = ""
    dkim_results: tuple[tuple[str, str, str], ...] = ()  # (domain, selector, result)
    spf_results: tuple[tuple[str, str, str], ...] = ()  # (domain, scope, result)
    reasons: tuple[str, ...] = ()  # policy override types


@dataclass(frozen=True, slots=True)
class ReceivedReport:
    org_name: str
    report_id: str
    domain: str  # policy_published/domain
    begin: int
    end: int
    records: tuple[ReportRecord, ...]


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    return next((c for c in element if _local(c.tag) == name), None)


def _children(element: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if element is None else [c for c in element if _local(c.tag) == name]


def _text(element: ET.Element | None, *path: str) -> str:
    for name in path:
        element = _child(element, name)
    return (element.text or "").strip() if element is not None else ""


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 0


def parse_report(document: bytes) -> ReceivedReport:
    """The parts of an Appendix C document Roost shows; missing fields come out empty."""
    root = parse_xml(document)
    if _local(root.tag) != "feedback":
        raise ReportError(f"root element is <{_local(root.tag)}>, not <feedback>")
    meta = _child(root, "report_metadata")
    return ReceivedReport(
        org_name=_text(meta, "org_name"),
        report_id=_text(meta, "report_id"),
        domain=_text(root, "policy_published", "domain").lower(),
        begin=_int(_text(meta, "date_range", "begin")),
        end=_int(_text(meta, "date_range", "end")),
        records=tuple(_record(r) for r in _children(root, "record")),
    )


def _record(rec: ET.Element) -> ReportRecord:
    row = _child(rec, "row")
    evaluated = _child(row, "policy_evaluated")
    auth = _child(rec, "auth_results")
    return ReportRecord(
        source_ip=_text(row, "source_ip"),
        count=_int(_text(row, "count")),
        disposition=_text(evaluated, "disposition").lower(),
        dkim=_text(evaluated, "dkim").lower(),
        spf=_text(evaluated, "spf").lower(),
        header_from=_text(rec, "identifiers", "header_from").lower(),
        envelope_from=_text(rec, "identifiers", "envelope_from").lower(),
        dkim_results=tuple(
            (_text(d, "domain").lower(), _text(d, "selector"), _text(d, "result").lower())
            for d in _children(auth, "dkim")
        ),
        spf_results=tuple(
            (_text(s, "domain").lower(), _text(s, "scope"), _text(s, "result").lower())
            for s in _children(auth, "spf")
        ),
        reasons=tuple(_text(r, "type") for r in _children(evaluated, "reason")),
    )


def parse_report_message(message: bytes) -> ReceivedReport:
    """A received report mail, end to end; ``ReportError`` when it is not one."""
    return parse_report(report_xml(message))


# --- who sends as the domain ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceSummary:
    """One source IP's messages summed over reports: how many aligned and what was done."""

    source_ip: str
    messages: int
    dkim_aligned: int
    spf_aligned: int
    dmarc_pass: int
    dispositions: tuple[tuple[str, int], ...]  # (disposition, messages), most first
    reporters: tuple[str, ...]


def summarize(reports: Iterable[ReceivedReport], domain: str) -> list[SourceSummary]:
    """Per source IP, for reports about ``domain`` (its subdomains' From too), most mail first."""
    domain = domain.lower().rstrip(".")
    totals: dict[str, list[int]] = {}
    dispositions: dict[str, dict[str, int]] = {}
    reporters: dict[str, set[str]] = {}
    for report in reports:
        if report.domain != domain:
            continue
        for r in report.records:
            t = totals.setdefault(r.source_ip, [0, 0, 0, 0])
            t[0] += r.count
            t[1] += r.count if r.dkim == "pass" else 0
            t[2] += r.count if r.spf == "pass" else 0
            t[3] += r.count if "pass" in (r.dkim, r.spf) else 0
            d = dispositions.setdefault(r.source_ip, {})
            d[r.disposition or "none"] = d.get(r.disposition or "none", 0) + r.count
            reporters.setdefault(r.source_ip, set()).add(report.org_name)
    out = [
        SourceSummary(
            ip, t[0], t[1], t[2], t[3],
            tuple(sorted(dispositions[ip].items(), key=lambda kv: (-kv[1], kv[0]))),
            tuple(sorted(reporters[ip])),
        )
        for ip, t in totals.items()
    ]  # fmt: skip
    return sorted(out, key=lambda s: (-s.messages, s.source_ip))
