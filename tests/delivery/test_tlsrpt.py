"""TLS reporting (RFC 8460): session results, the JSON report, rua discovery and the mail."""

from __future__ import annotations

import asyncio
import gzip
import json
from email import message_from_bytes
from email.message import Message
from email.policy import default

import pytest

from roost.config.model import RoostConfig
from roost.delivery.mtasts import FETCH_ERROR, StsLookup, parse_policy
from roost.delivery.mx import Hop, Route
from roost.delivery.policy import DomainTls, tls_contexts
from roost.delivery.smtp_session import Endpoint, SessionReport
from roost.delivery.tlsrpt import (
    build_report,
    excluded_mx_result,
    mailto_addresses,
    plan_results,
    policy_failure_result,
    report_email,
    results_from_session,
    rua_for,
    send_daily_reports,
)
from roost.dns import Resolver
from roost.store import open_store
from roost.store.aio import AsyncStore
from roost.store.interface import Store
from tests import dnsserver
from tests.delivery.https_server import POLICY
from tests.dnsserver import DnsTestServer

dns_server = dnsserver.dns_server  # the real loopback DNS server fixture

DAY = "2024-05-01"
DOMAIN = "example.test"
STS = parse_policy(POLICY)


def _report(
    host: str = "mx1.example.test",
    ip: str = "127.0.0.2",
    tls: str | None = "TLSv1.3 TLS_AES_256_GCM_SHA384",
    failure: str | None = None,
) -> SessionReport:
    return SessionReport(Endpoint(host, ip, 25), tls, failure, (), None)


def test_results_from_session() -> None:
    [ok] = results_from_session(DOMAIN, STS, _report(), DAY)
    assert ok.success
    assert ok.result_type == ""
    assert ok.policy_type == "sts"
    assert ok.policy_string.split("\n")[0] == "version: STSv1"
    [bad] = results_from_session(
        DOMAIN, None, _report(tls=None, failure="certificate-expired"), DAY
    )
    assert not bad.success
    assert bad.result_type == "certificate-expired"
    assert bad.policy_type == "no-policy-found"
    assert (bad.mx_host, bad.receiving_ip, bad.day) == ("mx1.example.test", "127.0.0.2", DAY)
    # no TLS attempted (connection refused, or mode "none"): nothing to report
    assert results_from_session(DOMAIN, STS, _report(tls=None), DAY) == []


def test_policy_failure_and_excluded_mx_results() -> None:
    lookup = StsLookup(DOMAIN, None, failure=FETCH_ERROR, detail="404")
    result = policy_failure_result(lookup, DAY)
    assert result is not None
    assert (result.policy_type, result.result_type, result.success) == ("sts", FETCH_ERROR, False)
    assert policy_failure_result(StsLookup(DOMAIN, STS), DAY) is None
    skipped = excluded_mx_result(DOMAIN, STS, "rogue.example.test", DAY)
    assert (skipped.result_type, skipped.mx_host) == ("validation-failure", "rogue.example.test")


def test_plan_results_count_discovery_failures_and_excluded_mx() -> None:
    hops = (Hop("mx1.example.test", "127.0.0.2", 25, 10), Hop("rogue.test", "127.0.0.3", 25, 10))
    route = Route(DOMAIN, "mx", hops)
    lookup = StsLookup(DOMAIN, STS, "id1", FETCH_ERROR, "404", from_cache=True)
    domain_tls = DomainTls(DOMAIN, "may", tls_contexts(), lookup)
    results = plan_results(domain_tls, route, DAY)
    assert [(r.result_type, r.mx_host) for r in results] == [
        (FETCH_ERROR, ""),
        ("validation-failure", "rogue.test"),
    ]
    assert not any(r.success for r in results)
    assert plan_results(DomainTls(DOMAIN, "may", tls_contexts()), route, DAY) == []


def _fill(store: Store) -> None:
    reports = [
        *([_report()] * 3),
        _report(host="a.mx.example.test", ip="127.0.0.3"),
        _report(tls=None, failure="certificate-expired"),
        _report(tls=None, failure="certificate-expired"),
        _report(
            host="a.mx.example.test", ip="127.0.0.3", tls=None, failure="starttls-not-supported"
        ),
    ]
    results = [r for rep in reports for r in results_from_session(DOMAIN, STS, rep, DAY)]
    results += results_from_session(DOMAIN, None, _report(host="old.example.test"), DAY)
    results += results_from_session("other.test", None, _report(), DAY)
    results += results_from_session(DOMAIN, STS, _report(), "2024-05-02")
    store.record_tls_results(results)


@pytest.fixture
def store(roost_config: RoostConfig) -> Store:
    s = open_store(roost_config)
    yield s  # type: ignore[misc]
    s.close()


def test_build_report_structure(store: Store) -> None:
    _fill(store)
    report = build_report(
        store, DOMAIN, DAY, organization="Roost Test", contact="postmaster@mx.roost.test",
        submitter="mx.roost.test",
    )  # fmt: skip
    json.dumps(report)  # serialisable
    assert report["organization-name"] == "Roost Test"
    assert report["contact-info"] == "postmaster@mx.roost.test"
    assert report["date-range"] == {
        "start-datetime": "2024-05-01T00:00:00Z",
        "end-datetime": "2024-05-01T23:59:59Z",
    }
    assert report["report-id"] == "2024-05-01T00:00:00Z_example.test@mx.roost.test"
    by_type = {p["policy"]["policy-type"]: p for p in report["policies"]}
    assert set(by_type) == {"sts", "no-policy-found"}
    sts = by_type["sts"]
    assert sts["policy"] == {
        "policy-type": "sts",
        "policy-string": STS.lines,
        "policy-domain": DOMAIN,
        "mx-host": ["mx1.example.test", "*.mx.example.test"],
    }
    assert sts["summary"] == {
        "total-successful-session-count": 4,
        "total-failure-session-count": 3,
    }
    assert sts["failure-details"] == [
        {
            "result-type": "certificate-expired",
            "receiving-ip": "127.0.0.2",
            "receiving-mx-hostname": "mx1.example.test",
            "failed-session-count": 2,
        },
        {
            "result-type": "starttls-not-supported",
            "receiving-ip": "127.0.0.3",
            "receiving-mx-hostname": "a.mx.example.test",
            "failed-session-count": 1,
        },
    ]
    none = by_type["no-policy-found"]
    assert "policy-string" not in none["policy"]
    assert none["policy"]["mx-host"] == ["old.example.test"]
    assert none["summary"]["total-successful-session-count"] == 1
    assert none["failure-details"] == []


def test_rua_for(dns_server: DnsTestServer) -> None:
    dns_server.zones = {
        "_smtp._tls.example.test": {
            "TXT": ["v=TLSRPTv1; rua=mailto:tls@example.test,https://r.example.test/tls"]
        },
        "_smtp._tls.two.test": {"TXT": ["v=TLSRPTv1; rua=mailto:a@two.test", "v=TLSRPTv1;"]},
        "_smtp._tls.other.test": {"TXT": ["v=spf1 -all"]},
    }
    resolver = Resolver([dns_server.address], timeout=2)

    async def body() -> list[list[str]]:
        return [
            await rua_for(d, resolver)
            for d in ("example.test", "two.test", "other.test", "none.test")
        ]

    assert asyncio.run(body()) == [
        ["mailto:tls@example.test", "https://r.example.test/tls"],
        [],
        [],
        [],
    ]
    assert mailto_addresses(["mailto:tls%2Bx@example.test?subject=hi", "https://x", "mailto:"]) == [
        "tls+x@example.test"
    ]


def _parse_mail(raw: bytes) -> Message:
    return message_from_bytes(raw, policy=default)


def test_report_email_round_trip(store: Store) -> None:
    _fill(store)
    report = build_report(
        store, DOMAIN, DAY, organization="Roost", contact="postmaster@mx.roost.test",
        submitter="mx.roost.test",
    )  # fmt: skip
    raw = report_email(
        report, from_addr="tlsrpt@mx.roost.test", to_addrs=["tls@example.test"],
        hostname="mx.roost.test",
    )  # fmt: skip
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    msg = _parse_mail(raw)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    assert msg["TLS-Report-Domain"] == DOMAIN
    assert msg["TLS-Report-Submitter"] == "mx.roost.test"
    assert msg["Subject"] == (
        "Report Domain: example.test Submitter: mx.roost.test "
        "Report-ID: <2024-05-01T00:00:00Z_example.test@mx.roost.test>"
    )
    parts = list(msg.iter_parts())  # type: ignore[attr-defined]
    assert parts[0].get_content_type() == "text/plain"
    attachment = parts[1]
    assert attachment.get_content_type() == "application/tlsrpt+gzip"
    assert attachment.get_filename() == "mx.roost.test!example.test!1714521600!1714607999.json.gz"
    assert json.loads(gzip.decompress(attachment.get_payload(decode=True))) == report


def test_send_daily_reports(dns_server: DnsTestServer, roost_config: RoostConfig) -> None:
    dns_server.zones = {
        "_smtp._tls.example.test": {
            "TXT": ["v=TLSRPTv1; rua=mailto:tls@example.test,https://r.example.test/tls"]
        },
        # other.test has results but publishes no record: no report
    }
    astore = AsyncStore(open_store(roost_config))
    _fill(astore.store)
    resolver = Resolver([dns_server.address], timeout=2)
    sent: list[tuple[str, list[str], bytes]] = []

    async def submit(sender: str, rcpts: list[str], message: bytes) -> None:
        sent.append((sender, rcpts, message))

    async def body() -> int:
        return await send_daily_reports(
            astore, resolver, submit, DAY, organization="Roost",
            contact="postmaster@mx.roost.test", from_addr="tlsrpt@mx.roost.test",
            hostname="mx.roost.test",
        )  # fmt: skip

    try:
        count = asyncio.run(body())
    finally:
        astore.close()
    assert count == 1
    [(sender, rcpts, message)] = sent
    assert (sender, rcpts) == ("tlsrpt@mx.roost.test", ["tls@example.test"])
    assert _parse_mail(message)["TLS-Report-Domain"] == DOMAIN
