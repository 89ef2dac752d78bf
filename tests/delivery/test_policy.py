"""Effective TLS per destination: configuration plus MTA-STS, down to the SMTP session."""

from __future__ import annotations

import asyncio
import random
import ssl
from datetime import UTC, datetime

from roost.config.model import DeliveryConfig, SmarthostConfig
from roost.delivery.mtasts import (
    FetchSettings,
    MemoryPolicyCache,
    MtaStsCache,
    StsLookup,
    parse_policy,
)
from roost.delivery.mx import Hop, Route, route
from roost.delivery.policy import DomainTls, TlsContexts, requirement, tls_contexts, tls_for
from roost.delivery.smtp_session import (
    Endpoint,
    OutboundMessage,
    OutboundRecipient,
    SessionReport,
    deliver,
)
from roost.delivery.tlsrpt import results_from_session
from roost.dns import Resolver
from tests import dnsserver
from tests.delivery.conftest import FAST
from tests.delivery.https_server import POLICY, PolicyServer
from tests.delivery.servers import Script, TestSmtpServer, tls_pair
from tests.dnsserver import DnsTestServer

dns_server = dnsserver.dns_server  # the real loopback DNS server fixture

DOMAIN = "example.test"
CONTEXTS = TlsContexts(ssl.create_default_context(), tls_contexts().opportunistic)


def _domain_tls(mode: str = "may", sts_text: str | None = None) -> DomainTls:
    lookup = StsLookup(DOMAIN, parse_policy(sts_text)) if sts_text else None
    return DomainTls(DOMAIN, mode, CONTEXTS, lookup)  # type: ignore[arg-type]


def _tls_for(config: DeliveryConfig, domain: str = DOMAIN) -> DomainTls:
    resolver = Resolver(["127.0.0.1:9"], timeout=0.5)  # never asked: no MTA-STS cache given
    return asyncio.run(tls_for(domain, config, None, resolver, contexts=CONTEXTS))


def test_config_modes() -> None:
    config = DeliveryConfig(default_tls="may", tls_policy={"secure.test": "verify"})
    assert _tls_for(config).effective_mode == "may"
    assert _tls_for(config, "Secure.Test.").effective_mode == "verify"
    smarthost = DeliveryConfig(smarthost=SmarthostConfig(address="relay.test:587", tls="encrypt"))
    assert _tls_for(smarthost).effective_mode == "encrypt"


def test_enforce_raises_to_verify_and_testing_does_not() -> None:
    assert _domain_tls("may", POLICY).effective_mode == "verify"
    assert _domain_tls("none", POLICY).effective_mode == "verify"
    testing = POLICY.replace("enforce", "testing")
    assert _domain_tls("may", testing).effective_mode == "may"
    assert _domain_tls("verify", testing).effective_mode == "verify"


def test_requirement_context_and_sni() -> None:
    hop = Hop("mx1.example.test", "127.0.0.2", 25, 10)
    strict = requirement(_domain_tls("may", POLICY), hop)
    assert strict.mode == "verify"
    assert strict.ssl_context is CONTEXTS.verify
    assert strict.server_hostname == "mx1.example.test"
    relaxed = requirement(_domain_tls("encrypt"), hop)
    assert relaxed.ssl_context is CONTEXTS.opportunistic
    assert relaxed.mode == "encrypt"
    assert requirement(_domain_tls("none"), hop).mode == "none"


def test_enforce_excludes_mx_hosts_the_policy_does_not_list() -> None:
    hops = (
        Hop("mx1.example.test", "127.0.0.2", 25, 10),
        Hop("rogue.example.test", "127.0.0.3", 25, 10),
        Hop("b.mx.example.test", "127.0.0.4", 25, 20),
    )
    r = Route(DOMAIN, "mx", hops)
    assert _domain_tls("may", POLICY).filter(r).mx_hosts == (
        "mx1.example.test",
        "b.mx.example.test",
    )
    assert _domain_tls("may", POLICY.replace("enforce", "testing")).filter(r) == r
    only_rogue = Route(DOMAIN, "mx", hops[1:2])
    blocked = _domain_tls("may", POLICY).filter(only_rogue)
    assert blocked.error == "temporary"
    assert blocked.reply is not None
    assert blocked.reply.code == 451


def _sts_zones(server: DnsTestServer) -> None:
    server.zones = {
        DOMAIN: {"MX": [(10, "rogue.example.test"), (20, "mx1.example.test")]},
        "rogue.example.test": {"A": ["127.0.0.3"]},
        "mx1.example.test": {"A": ["127.0.0.1"]},
        f"_mta-sts.{DOMAIN}": {"TXT": ["v=STSv1; id=1;"]},
        f"mta-sts.{DOMAIN}": {"A": ["127.0.0.1"]},
    }


def _message() -> OutboundMessage:
    body = b"From: a@roost.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nhello\r\n"
    return OutboundMessage("Q1", "a@roost.test", (OutboundRecipient("b@example.test"),), body)


async def _deliver_with_sts(
    dns: DnsTestServer, smtp_ca: bytes, smtp: TestSmtpServer, https: PolicyServer
) -> tuple[Route, DomainTls, SessionReport]:
    """Route, apply MTA-STS, and deliver to the first allowed hop, as the queue manager does."""
    resolver = Resolver([dns.address], timeout=2)
    config = DeliveryConfig(mx_port=smtp.port, mta_sts_port=https.port)
    sts = MtaStsCache(
        MemoryPolicyCache(),
        resolver,
        FetchSettings(https.client_context(), port=https.port, timeout=5),
        now=lambda: datetime.now(UTC),
    )
    contexts = TlsContexts(
        ssl.create_default_context(cadata=smtp_ca.decode()), CONTEXTS.opportunistic
    )
    domain_tls = await tls_for(DOMAIN, config, sts, resolver, contexts=contexts)
    allowed = domain_tls.filter(await route(DOMAIN, resolver, config, rng=random.Random(1)))
    hop = allowed.hops[0]
    report = await deliver(
        Endpoint(hop.mx_host, hop.ip, hop.port), [_message()], helo_name="mx.roost.test",
        tls=requirement(domain_tls, hop), timeouts=FAST,
    )  # fmt: skip
    return allowed, domain_tls, report


def test_enforce_delivers_over_verified_tls_to_a_listed_mx(dns_server: DnsTestServer) -> None:
    server_ctx, cert = tls_pair("mx1.example.test")

    async def body() -> tuple[Route, DomainTls, SessionReport]:
        async with TestSmtpServer(Script(tls=server_ctx)) as smtp, PolicyServer() as https:
            _sts_zones(dns_server)
            return await _deliver_with_sts(dns_server, cert, smtp, https)

    allowed, domain_tls, report = asyncio.run(body())
    assert allowed.mx_hosts == ("mx1.example.test",)  # rogue never tried
    assert domain_tls.sts_mode == "enforce"
    assert report.tls is not None
    assert report.results[0].recipients[0].status == "delivered"
    [result] = results_from_session(DOMAIN, domain_tls.sts_policy, report, "2024-05-01")
    assert result.success


def test_enforce_defers_on_an_untrusted_certificate(dns_server: DnsTestServer) -> None:
    server_ctx, _ = tls_pair("mx1.example.test")
    _, other_ca = tls_pair("mx1.example.test")

    async def body() -> tuple[Route, DomainTls, SessionReport]:
        async with TestSmtpServer(Script(tls=server_ctx)) as smtp, PolicyServer() as https:
            _sts_zones(dns_server)
            return await _deliver_with_sts(dns_server, other_ca, smtp, https)

    _, domain_tls, report = asyncio.run(body())
    assert report.tls is None
    assert report.tls_failure == "certificate-not-trusted"
    assert report.results[0].recipients[0].status == "deferred"
    [result] = results_from_session(DOMAIN, domain_tls.sts_policy, report, "2024-05-01")
    assert (result.success, result.result_type) == (False, "certificate-not-trusted")
