"""How to reach a destination now: route (MX, transport map, smarthost) + TLS policy -> Plan.

The queue manager asks `plan(domain)` before each connection and reports every session back, so
TLS outcomes are counted for RFC 8460 reports under the policy that applied.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

from roost.config.model import DeliveryConfig
from roost.delivery import mx, policy, tlsrpt
from roost.delivery.mtasts import MtaStsCache
from roost.delivery.smtp_session import Endpoint, SessionReport, SmtpAuth
from roost.dns import Resolver
from roost.queue.manager import Hop, Plan
from roost.store.aio import AsyncStore
from roost.store.interface import Store
from roost.store.types import RcptStatus, TlsResult


class DnsRouter:
    def __init__(
        self,
        config: DeliveryConfig,
        resolver: Resolver,
        *,
        mtasts: MtaStsCache | None,
        store: Store,
        runner: AsyncStore,
        rng: random.Random | None = None,
        contexts: policy.TlsContexts | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._cfg = config
        self._resolver = resolver
        self._mtasts = mtasts
        self._store = store
        self._runner = runner
        self._rng = rng or random.Random()
        self._contexts = contexts
        self._clock = clock
        self._tls: dict[str, policy.DomainTls] = {}

    async def plan(self, domain: str) -> Plan:
        route = await mx.route(domain, self._resolver, self._cfg, rng=self._rng)
        if route.error is None:
            tls = await policy.tls_for(
                domain, self._cfg, self._mtasts, self._resolver, contexts=self._contexts
            )
            self._tls[domain] = tls
            await self._record(tlsrpt.plan_results(tls, route, self._day()))
            route = tls.filter(route)
        if route.error is not None:
            reply = route.reply or mx.C451_DNS
            status = RcptStatus.BOUNCED if route.error == "permanent" else RcptStatus.DEFERRED
            return Plan(failure=(status, reply.code, reply.enhanced, reply.text))
        tls = self._tls[domain]
        hops = tuple(
            Hop(Endpoint(h.mx_host, h.ip, h.port), policy.requirement(tls, h)) for h in route.hops
        )
        return Plan(hops=hops, auth=self._auth(route))

    def _auth(self, route: mx.Route) -> SmtpAuth | None:
        smarthost = self._cfg.smarthost
        if route.kind == "smarthost" and smarthost.username:
            return SmtpAuth(smarthost.username, smarthost.password)
        return None

    async def report(self, domain: str, hop: Hop, report: SessionReport) -> None:
        """Count the session's TLS outcome for the domain's daily TLS-RPT report."""
        if not self._cfg.tlsrpt:
            return
        tls = self._tls.get(domain)
        sts_policy = tls.sts_policy if tls is not None else None
        await self._record(tlsrpt.results_from_session(domain, sts_policy, report, self._day()))

    async def _record(self, results: list[TlsResult]) -> None:
        if results and self._cfg.tlsrpt:
            await self._runner.run(self._store.record_tls_results, results)

    def _day(self) -> str:
        return self._clock().strftime("%Y-%m-%d")
