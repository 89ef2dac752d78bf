"""DMARC aggregate reports (RFC 7489 §7.2): the XML of Appendix C, its file name and its mail.

The store counts evaluations per UTC day (`Store.record_dmarc`); this module turns one policy
domain's day into the feedback document, gzips it under the §7.2.1.1 file name and wraps it in
a message for each `mailto:` rua URI. `send_daily_reports` has the shape of the TLS-RPT one
(`delivery/tlsrpt.py`) so the same daily loop can drive it.

Element order follows the Appendix C schema exactly (its types are xs:sequence), which some
report processors check: feedback(version, report_metadata, policy_published, record+), and
in a record row(source_ip, count, policy_evaluated), identifiers(envelope_to?, envelope_from,
header_from), auth_results(dkim*, spf+).
"""

from __future__ import annotations

import gzip
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from urllib.parse import unquote

from roost.auth.dkim_verify import DkimResult
from roost.auth.dmarc import DmarcRecord, DmarcResult, discover_policy
from roost.auth.dmarc_ingest import parse_xml
from roost.auth.orgdomain import organizational_domain
from roost.dns import DnsError, Resolver
from roost.obs.log import log_event
from roost.store.aio import AsyncStore
from roost.store.types import DmarcEvaluation

log = logging.getLogger("roost.auth.dmarc_report")

Submit = Callable[[str, list[str], bytes], Awaitable[object]]

# RFC 7489 Appendix C PolicyOverrideType: the reasons a disposition may differ from the policy.
OVERRIDE_REASONS = (
    "forwarded", "sampled_out", "trusted_forwarder", "mailing_list", "local_policy", "other",
)  # fmt: skip
_SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def day_range(day: str) -> tuple[int, int]:
    """(begin, end) of a UTC day in seconds since the epoch; end is the day's last second."""
    start = datetime.combine(date.fromisoformat(day), time(0, 0), tzinfo=UTC)
    end = start + timedelta(days=1) - timedelta(seconds=1)
    return int(start.timestamp()), int(end.timestamp())


def record_from_rows(domain: str, rows: Sequence[tuple[DmarcEvaluation, int]]) -> DmarcRecord:
    """The published policy as the last evaluation of the day saw it (for reports built from
    the store alone, e.g. by the CLI); p=none when there are no rows."""
    if not rows:
        return DmarcRecord(p="none", sp="none", domain=domain)
    last = rows[-1][0]
    return DmarcRecord(
        p=last.p, sp=last.sp, adkim=last.adkim, aspf=last.aspf, pct=last.pct, domain=domain
    )


def _sub(parent: ET.Element, tag: str, text: str | int | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def build_report(
    org_name: str,
    email: str,
    report_id: str,
    domain: str,
    day: str,
    record: DmarcRecord | None,
    rows: Sequence[tuple[DmarcEvaluation, int]],
) -> bytes:
    """The Appendix C feedback document (UTF-8 XML with declaration) for one domain and day.

    ``record`` is the published policy (None: taken from the rows). Raises ``ValueError``
    when ``day`` is not YYYY-MM-DD.
    """
    begin, end = day_range(day)
    if record is None:
        record = record_from_rows(domain, rows)
    root = ET.Element("feedback")
    _sub(root, "version", "1.0")
    meta = _sub(root, "report_metadata")
    _sub(meta, "org_name", org_name)
    _sub(meta, "email", email)
    _sub(meta, "report_id", report_id)
    dates = _sub(meta, "date_range")
    _sub(dates, "begin", begin)
    _sub(dates, "end", end)
    published = _sub(root, "policy_published")
    _sub(published, "domain", domain)
    _sub(published, "adkim", record.adkim)
    _sub(published, "aspf", record.aspf)
    _sub(published, "p", record.p)
    _sub(published, "sp", record.sp)
    _sub(published, "pct", record.pct)
    _sub(published, "fo", record.fo)
    for evaluation, count in rows:
        _record(root, evaluation, count)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _record(root: ET.Element, ev: DmarcEvaluation, count: int) -> None:
    rec = _sub(root, "record")
    row = _sub(rec, "row")
    _sub(row, "source_ip", ev.source_ip)
    _sub(row, "count", count)
    evaluated = _sub(row, "policy_evaluated")
    _sub(evaluated, "disposition", ev.disposition)
    _sub(evaluated, "dkim", ev.dmarc_dkim)
    _sub(evaluated, "spf", ev.dmarc_spf)
    if ev.reason:
        reason = _sub(evaluated, "reason")
        kind = ev.reason if ev.reason in OVERRIDE_REASONS else "other"
        _sub(reason, "type", kind)
        if kind != ev.reason:
            _sub(reason, "comment", ev.reason)
    ids = _sub(rec, "identifiers")
    if ev.envelope_to:
        _sub(ids, "envelope_to", ev.envelope_to)
    _sub(ids, "envelope_from", ev.envelope_from)
    _sub(ids, "header_from", ev.header_from)
    results = _sub(rec, "auth_results")
    for domain, selector, result in ev.dkim:
        dkim = _sub(results, "dkim")
        _sub(dkim, "domain", domain)
        if selector:
            _sub(dkim, "selector", selector)
        _sub(dkim, "result", result)
    spf_rows = ev.spf or ((ev.envelope_from, "mfrom", "none"),)  # spf is minOccurs=1
    for domain, scope, result in spf_rows:
        spf = _sub(results, "spf")
        _sub(spf, "domain", domain)
        _sub(spf, "scope", scope)
        _sub(spf, "result", result)


def evaluation_for(
    result: DmarcResult,
    *,
    source_ip: str,
    mail_from: str,
    rcpt_domain: str,
    spf: Sequence[tuple[str, str, str]],
    dkim: Sequence[DkimResult],
    disposition: str | None = None,
    reason: str = "",
    when: datetime | None = None,
) -> DmarcEvaluation | None:
    """The row to record for one message's DMARC verdict, or None when nothing is reportable
    (no policy record: no rua to report to; §7.2 reports go to the policy's domain).

    ``spf`` is (domain, "mfrom" | "helo", result) per identity checked; ``disposition`` is what
    Roost actually did when local policy overrode the verdict (then give ``reason``, an
    Appendix C PolicyOverrideType word such as "trusted_forwarder"), else the verdict's own.
    """
    record = result.record
    if record is None or not result.from_domain:
        return None
    day = (when or datetime.now(UTC)).astimezone(UTC).date().isoformat()
    return DmarcEvaluation(
        day=day,
        header_from=result.from_domain,
        source_ip=source_ip,
        envelope_from=mail_from.rpartition("@")[2].lower(),
        envelope_to=rcpt_domain.lower(),
        policy_domain=record.domain,
        p=record.p,
        sp=record.sp,
        pct=record.pct,
        adkim=record.adkim,
        aspf=record.aspf,
        disposition=disposition if disposition is not None else result.disposition,
        dmarc_dkim="pass" if result.dkim_aligned else "fail",
        dmarc_spf="pass" if result.spf_aligned else "fail",
        dkim=tuple((d.domain, d.selector, d.result) for d in dkim if d.domain),
        spf=tuple(spf),
        reason=reason,
    )


# The element order of Appendix C, child names per parent (optional ones included).
SCHEMA_ORDER: dict[str, tuple[str, ...]] = {
    "feedback": ("version", "report_metadata", "policy_published", "record"),
    "report_metadata": (
        "org_name", "email", "extra_contact_info", "report_id", "date_range", "error",
    ),
    "date_range": ("begin", "end"),
    "policy_published": ("domain", "adkim", "aspf", "p", "sp", "pct", "fo"),
    "record": ("row", "identifiers", "auth_results"),
    "row": ("source_ip", "count", "policy_evaluated"),
    "policy_evaluated": ("disposition", "dkim", "spf", "reason"),
    "reason": ("type", "comment"),
    "identifiers": ("envelope_to", "envelope_from", "header_from"),
    "auth_results": ("dkim", "spf"),
    "auth_results/dkim": ("domain", "selector", "result", "human_result"),
    "auth_results/spf": ("domain", "scope", "result"),
}  # fmt: skip
_REQUIRED: dict[str, tuple[str, ...]] = {
    "feedback": ("report_metadata", "policy_published", "record"),
    "report_metadata": ("org_name", "email", "report_id", "date_range"),
    "date_range": ("begin", "end"),
    "policy_published": ("domain", "p"),
    "record": ("row", "identifiers", "auth_results"),
    "row": ("source_ip", "count", "policy_evaluated"),
    "policy_evaluated": ("disposition", "dkim", "spf"),
    "identifiers": ("header_from",),
    "auth_results": ("spf",),
    "auth_results/dkim": ("domain", "result"),
    "auth_results/spf": ("domain", "result"),
}


def schema_problems(document: bytes) -> list[str]:
    """Why ``document`` is not a well-formed feedback report in Appendix C order ([] if it is).

    A structural check, not full XSD validation: each known element's children must be known,
    present when required, and in schema order.
    """
    try:
        root = parse_xml(document)
    except ValueError as exc:
        return [f"not well-formed XML: {exc}"]
    if root.tag != "feedback":
        return [f"root element is <{root.tag}>, not <feedback>"]
    problems: list[str] = []
    _check(root, "feedback", "feedback", problems)
    return problems


def _check(element: ET.Element, key: str, path: str, problems: list[str]) -> None:
    order = SCHEMA_ORDER.get(key)
    if order is None:
        return
    names = [child.tag for child in element]
    for name in names:
        if name not in order:
            problems.append(f"{path}: unexpected <{name}>")
    positions = [order.index(n) for n in names if n in order]
    if positions != sorted(positions):
        problems.append(f"{path}: children out of order: {', '.join(names)}")
    for name in _REQUIRED.get(key, ()):
        if name not in names:
            problems.append(f"{path}: missing <{name}>")
    for child in element:
        child_key = child.tag
        if key == "auth_results":
            child_key = f"auth_results/{child.tag}"
        _check(child, child_key, f"{path}/{child.tag}", problems)


# --- file name, compression, mail (§7.2.1.1) --------------------------------------------------


def report_filename(receiver: str, domain: str, day: str) -> str:
    """§7.2.1.1: receiver!policy-domain!begin!end, here with the ".xml.gz" extension."""
    begin, end = day_range(day)
    return f"{receiver}!{domain}!{begin}!{end}.xml.gz"


def gzip_report(document: bytes) -> bytes:
    """The gzip body of the attachment; mtime 0 so the same report gives the same bytes."""
    return gzip.compress(document, mtime=0)


def report_id_for(domain: str, day: str, submitter: str) -> str:
    """Derived from day, domain and submitter: a report sent again keeps its id (§7.2.1.1
    lets receivers deduplicate on it)."""
    return f"{day}.{domain}@{submitter}"


def report_email(
    document: bytes,
    *,
    domain: str,
    day: str,
    report_id: str,
    submitter: str,
    from_addr: str,
    to_addrs: Sequence[str],
    hostname: str,
) -> bytes:
    """The §7.2.1.1 message: a short text part and the gzipped report as an attachment.

    Subject "Report Domain: D Submitter: S Report-ID: <id>" as the RFC gives it.
    """
    msg = EmailMessage(policy=SMTP)
    msg["From"] = from_addr
    msg["To"] = ", ".join(to_addrs)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=hostname)
    msg["Subject"] = f"Report Domain: {domain} Submitter: {submitter} Report-ID: <{report_id}>"
    msg.set_content(
        f"This is a DMARC aggregate report (RFC 7489) from {submitter} for {domain}, "
        f"covering the UTC day {day}.\n"
    )
    msg.add_attachment(
        gzip_report(document),
        maintype="application",
        subtype="gzip",
        filename=report_filename(submitter, domain, day),
    )
    return msg.as_bytes()


@dataclass(frozen=True, slots=True)
class ReportAddress:
    """A mailto: rua destination and its size limit in bytes (0: none), §6.2 "!size"."""

    address: str
    max_bytes: int = 0


_SIZE = re.compile(r"^(\d+)([kmgt]?)$", re.IGNORECASE)


def mailto_destinations(uris: Iterable[str]) -> list[ReportAddress]:
    """The mailto: URIs of rua= with their "!10m"-style limits; other schemes are skipped."""
    out = []
    for uri in uris:
        if uri[:7].lower() != "mailto:":
            continue
        target, bang, size = uri[7:].rpartition("!") if "!" in uri else (uri[7:], "", "")
        limit = 0
        if bang:
            match = _SIZE.match(size.strip())
            if match is None:
                continue
            limit = int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
        address = unquote(target.split("?", 1)[0]).strip()
        if "@" in address:
            out.append(ReportAddress(address, limit))
    return out


async def external_destination_ok(resolver: Resolver, domain: str, address: str) -> bool:
    """§7.1: a rua outside the policy domain's organisation must have agreed to receive its
    reports, with a v=DMARC1 record at ``<domain>._report._dmarc.<rua domain>``."""
    target = address.rpartition("@")[2].lower().rstrip(".")
    if organizational_domain(target) == organizational_domain(domain):
        return True
    try:
        answer = await resolver.txt(f"{domain}._report._dmarc.{target}")
    except DnsError:
        return False
    return any(r.lstrip().lower().startswith(b"v=dmarc1") for r in answer.records)


async def send_daily_reports(
    astore: AsyncStore,
    resolver: Resolver,
    submit: Submit,
    day: str,
    *,
    organization: str,
    contact: str,
    from_addr: str,
    hostname: str,
) -> int:
    """Mail `day`'s aggregate report to the mailto: rua of every policy domain with rows.

    Returns how many messages were submitted. The record is looked up again (its rua today
    is where reports go); a report larger than a destination's "!size" is not sent to it
    (§7.2.1 allows a short notice instead; Roost logs it). One domain's trouble never stops
    the others.
    """
    domains = await astore.run(astore.store.dmarc_report_domains, day)
    sent = 0
    for domain in domains:
        try:
            sent += await _send_one(
                astore, resolver, submit, day, domain, organization=organization,
                contact=contact, from_addr=from_addr, hostname=hostname,
            )  # fmt: skip
        except (DnsError, OSError) as exc:
            log_event(log, "dmarc report not sent", logging.WARNING, domain=domain, error=str(exc))
    return sent


async def _send_one(
    astore: AsyncStore,
    resolver: Resolver,
    submit: Submit,
    day: str,
    domain: str,
    *,
    organization: str,
    contact: str,
    from_addr: str,
    hostname: str,
) -> int:
    record = await discover_policy(resolver, domain)
    if record is None or not record.rua:
        return 0
    destinations = [
        d
        for d in mailto_destinations(record.rua)
        if await external_destination_ok(resolver, domain, d.address)
    ]
    if not destinations:
        return 0
    rows = await astore.run(astore.store.dmarc_rows, domain, day)
    report_id = report_id_for(domain, day, hostname)
    # The policy the day's evaluations applied; fo= is not stored with them, so today's.
    published = replace(record_from_rows(domain, rows), fo=record.fo)
    document = build_report(organization, contact, report_id, domain, day, published, rows)
    size = len(gzip_report(document))
    sent = 0
    for dest in destinations:
        if dest.max_bytes and size > dest.max_bytes:
            log_event(log, "dmarc report too large", logging.INFO, domain=domain,
                      rua=dest.address, size=size, limit=dest.max_bytes)  # fmt: skip
            continue
        message = report_email(
            document, domain=domain, day=day, report_id=report_id, submitter=hostname,
            from_addr=from_addr, to_addrs=[dest.address], hostname=hostname,
        )  # fmt: skip
        await submit(from_addr, [dest.address], message)
        sent += 1
    log_event(log, "dmarc report sent", domain=domain, day=day, rcpts=sent)
    return sent
