"""SMTP TLS Reporting (RFC 8460): count TLS outcomes per destination and mail daily reports.

Every outbound session's TLS outcome becomes one `TlsResult`, counted by the store per UTC day
and key (policy domain, policy, MX, IP, result type). Once a day `send_daily_reports` turns the
counts of each domain that asks for reports (a `_smtp._tls` TXT record) into the §4.4 JSON and
mails it, gzipped, in the §5.3 message format. Domains learn from it that their certificates
expired or that someone strips STARTTLS on the way to them; that is the whole point, so the
report says as much as we know and nothing we do not (no guessed fields).
"""

from __future__ import annotations

import gzip
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import unquote

from roost.delivery.mtasts import MtaStsPolicy, StsLookup
from roost.delivery.mx import Route
from roost.delivery.policy import DomainTls
from roost.delivery.smtp_session import SessionReport
from roost.dns import DnsError, Resolver
from roost.obs.log import log_event
from roost.store.aio import AsyncStore
from roost.store.interface import Store
from roost.store.types import TlsResult, TlsResultCount

log = logging.getLogger("roost.delivery.tlsrpt")

Submit = Callable[[str, list[str], bytes], Awaitable[None]]

# RFC 8460 §4.3 result types Roost produces (smtp_session names the handshake failures).
STARTTLS_NOT_SUPPORTED = "starttls-not-supported"
VALIDATION_FAILURE = "validation-failure"  # §4.3.3: also our "MX not listed in the policy"
POLICY_STS = "sts"
POLICY_NONE = "no-policy-found"


def utc_day(moment: datetime | None = None) -> str:
    """The UTC date "YYYY-MM-DD" a result is counted under."""
    return (moment or datetime.now(UTC)).astimezone(UTC).date().isoformat()


def _policy_fields(policy: MtaStsPolicy | None) -> tuple[str, str]:
    if policy is None:
        return POLICY_NONE, ""
    return POLICY_STS, "\n".join(policy.lines)


def results_from_session(
    policy_domain: str, policy: MtaStsPolicy | None, report: SessionReport, day: str
) -> list[TlsResult]:
    """The session's TLS outcome: one result, or none when no TLS was even attempted.

    Success means TLS was negotiated (smtp_session only completes a handshake in "verify"
    mode when the certificate verified). A session that failed before STARTTLS could be
    offered (connection refused, greeting refused) says nothing about TLS and is not counted.
    """
    if report.tls is None and report.tls_failure is None:
        return []
    policy_type, policy_string = _policy_fields(policy)
    failure = report.tls_failure if report.tls is None else None
    return [
        TlsResult(
            policy_domain=policy_domain,
            day=day,
            policy_type=policy_type,
            policy_string=policy_string,
            mx_host=report.endpoint.host,
            receiving_ip=report.endpoint.ip,
            result_type=failure or "",
            success=failure is None,
        )
    ]


def policy_failure_result(lookup: StsLookup, day: str) -> TlsResult | None:
    """A failed MTA-STS discovery (§4.3.2.1: fetch error, invalid, webpki) as one failure."""
    if lookup.failure is None:
        return None
    policy_type, policy_string = _policy_fields(lookup.policy)
    if lookup.policy is None:
        policy_type = POLICY_STS  # the domain announced a policy we could not get
    return TlsResult(
        lookup.domain, day, policy_type, policy_string, "", "", lookup.failure, success=False
    )


def excluded_mx_result(
    policy_domain: str, policy: MtaStsPolicy, mx_host: str, day: str
) -> TlsResult:
    """An MX skipped because the enforced policy does not list it (§4.3.3 validation-failure)."""
    _, policy_string = _policy_fields(policy)
    return TlsResult(
        policy_domain, day, POLICY_STS, policy_string, mx_host, "", VALIDATION_FAILURE, False
    )


def plan_results(domain_tls: DomainTls, route: Route, day: str) -> list[TlsResult]:
    """Failures known before any connection, for the router to record with the sessions'.

    `route` is the one before `DomainTls.filter`: a failed MTA-STS discovery, and each MX host
    an enforced policy excluded, count as one failed session each.
    """
    out: list[TlsResult] = []
    if domain_tls.sts is not None:
        failed = policy_failure_result(domain_tls.sts, day)
        out.extend([failed] if failed is not None else [])
    policy = domain_tls.sts_policy
    if policy is not None:
        out.extend(
            excluded_mx_result(route.domain, policy, h, day) for h in domain_tls.excluded(route)
        )
    return out


# --- the report (§4.4) -------------------------------------------------------------------------


def _day_range(day: str) -> tuple[datetime, datetime]:
    start = datetime.combine(date.fromisoformat(day), time(0, 0), tzinfo=UTC)
    return start, start + timedelta(days=1) - timedelta(seconds=1)


def _zulu(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_report(
    store: Store,
    policy_domain: str,
    day: str,
    *,
    organization: str,
    contact: str,
    submitter: str = "",
) -> dict[str, Any]:
    """The §4.4 JSON for one policy domain and UTC day, from the store's counters.

    `report-id` is derived from day, domain and submitter, so a resent report has the same id
    and a receiver can deduplicate it.
    """
    start, end = _day_range(day)
    report_id = f"{_zulu(start)}_{policy_domain}" + (f"@{submitter}" if submitter else "")
    counts = store.tls_result_counts(policy_domain, day)
    return {
        "organization-name": organization,
        "date-range": {"start-datetime": _zulu(start), "end-datetime": _zulu(end)},
        "contact-info": contact,
        "report-id": report_id,
        "policies": _policies(policy_domain, counts),
    }


def _policies(policy_domain: str, counts: Iterable[TlsResultCount]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[TlsResultCount]] = defaultdict(list)
    for row in counts:
        groups[(row.policy_type, row.policy_string)].append(row)
    return [
        _policy_entry(policy_domain, policy_type, policy_string, rows)
        for (policy_type, policy_string), rows in sorted(groups.items())
    ]


def _policy_entry(
    policy_domain: str, policy_type: str, policy_string: str, rows: list[TlsResultCount]
) -> dict[str, Any]:
    policy: dict[str, Any] = {"policy-type": policy_type}
    lines = [line for line in policy_string.split("\n") if line]
    if lines:
        policy["policy-string"] = lines
    policy["policy-domain"] = policy_domain
    policy["mx-host"] = _mx_hosts(lines, rows)
    return {
        "policy": policy,
        "summary": {
            "total-successful-session-count": sum(r.successes for r in rows),
            "total-failure-session-count": sum(r.failures for r in rows),
        },
        "failure-details": _failure_details(rows),
    }


def _mx_hosts(policy_lines: list[str], rows: list[TlsResultCount]) -> list[str]:
    """The policy's mx patterns for "sts"; for no policy, the MX hosts actually used."""
    patterns = [v.strip() for k, _, v in (ln.partition(":") for ln in policy_lines) if k == "mx"]
    return patterns or sorted({r.mx_host for r in rows if r.mx_host})


def _failure_details(rows: list[TlsResultCount]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in rows:
        if row.failures:
            merged[(row.result_type, row.mx_host, row.receiving_ip)] += row.failures
    details = []
    for (result_type, mx_host, ip), failed in sorted(merged.items()):
        detail: dict[str, Any] = {"result-type": result_type or VALIDATION_FAILURE}
        if ip:
            detail["receiving-ip"] = ip
        if mx_host:
            detail["receiving-mx-hostname"] = mx_host
        detail["failed-session-count"] = failed
        details.append(detail)
    return details


# --- where reports go (§3) and how they are mailed (§5.3) ------------------------------------


async def rua_for(domain: str, resolver: Resolver) -> list[str]:
    """The report URIs from `_smtp._tls.<domain>`; [] when there is no single valid record.

    §3: records not starting with "v=TLSRPTv1" are ignored, and more than one valid record
    means no reporting. DnsError propagates: the caller decides whether to retry later.
    """
    result = await resolver.txt(f"_smtp._tls.{domain}")
    records = [r for r in result.records if r.startswith(b"v=TLSRPTv1")]
    if len(records) != 1:
        return []
    text = records[0].decode("ascii", "replace")
    for part in text.split(";")[1:]:
        key, sep, value = part.strip().partition("=")
        if sep and key.strip() == "rua":
            return [uri.strip() for uri in value.split(",") if uri.strip()]
    return []


def mailto_addresses(uris: Iterable[str]) -> list[str]:
    """Addresses of the mailto: URIs, percent-decoded, without ?headers."""
    out = []
    for uri in uris:
        if uri[:7].lower() != "mailto:":
            continue
        address = unquote(uri[7:].split("?", 1)[0]).strip()
        if "@" in address:
            out.append(address)
    return out


def report_filename(report: dict[str, Any], policy_domain: str, submitter: str) -> str:
    """§5.1: sender!policy-domain!begin!end.json.gz, times in seconds since the epoch."""
    dates = report["date-range"]
    begin = _epoch(dates["start-datetime"])
    end = _epoch(dates["end-datetime"])
    return f"{submitter}!{policy_domain}!{begin}!{end}.json.gz"


def _epoch(zulu: str) -> int:
    return int(datetime.strptime(zulu, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def report_domain(report: dict[str, Any]) -> str:
    policies = report.get("policies") or [{}]
    return str(policies[0].get("policy", {}).get("policy-domain", ""))


def report_email(
    report: dict[str, Any], *, from_addr: str, to_addrs: list[str], hostname: str
) -> bytes:
    """The §5.3 message: multipart/report; report-type="tlsrpt" with the gzipped JSON.

    DKIM signing (§5.3 requires it) happens on the way out, like for any local mail.
    """
    domain = report_domain(report)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = from_addr
    msg["To"] = ", ".join(to_addrs)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=hostname)
    msg["Subject"] = (
        f"Report Domain: {domain} Submitter: {hostname} Report-ID: <{report['report-id']}>"
    )
    msg["TLS-Report-Domain"] = domain
    msg["TLS-Report-Submitter"] = hostname
    msg.set_content(
        f"This is an aggregate TLS report (RFC 8460) from {hostname} for {domain}, "
        f"covering {report['date-range']['start-datetime']} to "
        f"{report['date-range']['end-datetime']}.\n"
    )
    payload = gzip.compress(json.dumps(report, indent=None).encode("utf-8"), mtime=0)
    msg.add_attachment(
        payload,
        maintype="application",
        subtype="tlsrpt+gzip",
        filename=report_filename(report, domain, hostname),
    )
    msg.set_type("multipart/report")
    msg.set_param("report-type", "tlsrpt")
    return msg.as_bytes()


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
    """Mail `day`'s report to every domain with results that publishes mailto: rua URIs.

    Returns how many reports were submitted. https: URIs (§5.4 POST) are not supported yet
    and are skipped with a log line. One domain's trouble never stops the others.
    """
    domains = await astore.run(astore.store.tls_report_domains, day)
    sent = 0
    for domain in domains:
        try:
            sent += await _send_one(
                astore, resolver, submit, day, domain,
                organization=organization, contact=contact, from_addr=from_addr,
                hostname=hostname,
            )  # fmt: skip
        except (DnsError, OSError) as exc:
            log_event(log, "tlsrpt not sent", logging.WARNING, domain=domain, error=str(exc))
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
    uris = await rua_for(domain, resolver)
    for uri in uris:
        if uri[:8].lower() == "https://":
            log_event(log, "tlsrpt https rua skipped", logging.INFO, domain=domain, uri=uri)
    rcpts = mailto_addresses(uris)
    if not rcpts:
        return 0
    report = await astore.run(
        build_report, astore.store, domain, day,
        organization=organization, contact=contact, submitter=hostname,
    )  # fmt: skip
    message = report_email(report, from_addr=from_addr, to_addrs=rcpts, hostname=hostname)
    await submit(from_addr, rcpts, message)
    log_event(log, "tlsrpt sent", domain=domain, day=day, rcpts=len(rcpts))
    return 1
