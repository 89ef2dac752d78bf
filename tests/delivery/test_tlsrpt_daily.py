"""The server's daily TLS-RPT loop mails yesterday's report to the domain's rua address."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from roost.config import RoostConfig
from roost.delivery.engine import daily_tls_reports
from roost.dns import Resolver
from roost.store import open_store
from roost.store.aio import AsyncStore
from roost.store.types import TlsResult
from tests import dnsserver
from tests.dnsserver import DnsTestServer

dns_server = dnsserver.dns_server  # the real loopback DNS server fixture

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
POLICY = "version: STSv1\nmode: enforce\nmx: mx.remote.example\nmax_age: 86400"


def test_daily_loop_mails_yesterdays_report(
    dns_server: DnsTestServer, roost_config: RoostConfig
) -> None:
    """On start the loop sends the previous UTC day's report once, to the published rua."""
    day = (NOW - timedelta(days=1)).strftime("%Y-%m-%d")
    dns_server.set("_smtp._tls.remote.example", "TXT",
                   ["v=TLSRPTv1; rua=mailto:tls-reports@remote.example"])  # fmt: skip
    runner = AsyncStore(open_store(roost_config))
    result = TlsResult("remote.example", day, "sts", POLICY, "mx.remote.example", "192.0.2.1",
                       "", success=True)  # fmt: skip
    runner.store.record_tls_results([result])
    sent: list[tuple[str, list[str], bytes]] = []

    async def submit(sender: str, recipients: list[str], data: bytes) -> None:
        sent.append((sender, recipients, data))

    async def main() -> None:
        resolver = Resolver.from_config(dns_server.config())
        loop = asyncio.create_task(
            daily_tls_reports(roost_config, runner, resolver, submit, clock=lambda: NOW)
        )
        for _ in range(200):  # bounded: the first report goes out at once
            if sent:
                break
            await asyncio.sleep(0.02)
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        runner.close()
    ((sender, recipients, data),) = sent
    assert recipients == ["tls-reports@remote.example"]
    assert sender.startswith("noreply-tlsrpt@")
    assert b'report-type="tlsrpt"' in data or b"report-type=tlsrpt" in data


def test_daily_dmarc_loop_mails_yesterdays_aggregate_report(
    dns_server: DnsTestServer, roost_config: RoostConfig
) -> None:
    """checks.dmarc_reports: yesterday's DMARC aggregate report goes to the domain's rua."""
    from dataclasses import replace

    from roost.delivery.engine import daily_dmarc_reports
    from tests.auth.test_dmarc_report import PASS

    day = (NOW - timedelta(days=1)).strftime("%Y-%m-%d")
    dns_server.set("_dmarc.example.test", "TXT", ["v=DMARC1; p=none; rua=mailto:agg@example.test"])
    runner = AsyncStore(open_store(roost_config))
    runner.store.record_dmarc([replace(PASS, day=day)])
    sent: list[tuple[str, list[str], bytes]] = []

    async def submit(sender: str, recipients: list[str], data: bytes) -> None:
        sent.append((sender, recipients, data))

    async def main() -> None:
        resolver = Resolver.from_config(dns_server.config())
        loop = asyncio.create_task(
            daily_dmarc_reports(roost_config, runner, resolver, submit, clock=lambda: NOW)
        )
        for _ in range(200):  # bounded: the first report goes out at once
            if sent:
                break
            await asyncio.sleep(0.02)
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        runner.close()
    ((sender, recipients, data),) = sent
    assert recipients == ["agg@example.test"]
    assert sender.startswith("noreply-dmarc@")
    assert b"Report Domain: example.test" in data
