"""The queue manager (Postfix's qmgr role): the one scheduler of outbound delivery.

Each tick it leases due messages from the store (so several nodes can share one queue and a dead
node's work returns when its lease expires), groups their open recipients by destination domain,
and starts delivery tasks within each destination's budget (`Throttle`). A task routes the
domain (MX, transport map, smarthost, TLS policy), carries up to `messages_per_connection`
messages over one connection, tries the next host when a connection fails, and records every
recipient's outcome in one transaction per message. Bounces, delay warnings and suppression
follow from those outcomes (`Notifier`). Delivery is at-least-once: a crash after the remote 250
but before the record means the message is sent again, never that it is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from roost.config.model import DeliveryConfig
from roost.delivery.smtp_session import (
    Endpoint,
    OutboundMessage,
    OutboundRecipient,
    SessionReport,
    SmtpAuth,
    TlsRequirement,
)
from roost.obs.log import log_event
from roost.queue import backoff
from roost.queue.outcome import (
    Verdict,
    attempt_log,
    connection_failed,
    expire,
    open_recipients,
    same_for_all,
    verdicts_from,
)
from roost.queue.recorder import Recorder
from roost.queue.throttle import Throttle, is_throttling
from roost.store.aio import AsyncStore
from roost.store.interface import BlobStore, Store, StoreError
from roost.store.types import AttemptLog, AttemptResult, QueueEntry, RcptStatus

log = logging.getLogger("roost.delivery")

CLAIM_BATCH = 200
RATE_RETRY_SECONDS = 60.0
# Postfix's words in the per-recipient log line, which operators' log tooling already knows.
_LOG_STATUS = {
    RcptStatus.DELIVERED: "sent",
    RcptStatus.DEFERRED: "deferred",
    RcptStatus.BOUNCED: "bounced",
    RcptStatus.PENDING: "deferred",
}
_HOSTS_BUSY = "MX hosts at their local connection or rate limit"


@dataclass(frozen=True, slots=True)
class Hop:
    """One host to try, with the TLS it must (or may) use."""

    endpoint: Endpoint
    tls: TlsRequirement


@dataclass(frozen=True, slots=True)
class Plan:
    """How to reach a domain now: hosts in order, or why not (a final or temporary failure)."""

    hops: tuple[Hop, ...] = ()
    failure: tuple[RcptStatus, int, str, str] | None = None  # status, code, enhanced, text
    auth: SmtpAuth | None = None


class Router(Protocol):
    async def plan(self, domain: str) -> Plan: ...
    async def report(self, domain: str, hop: Hop, report: SessionReport) -> None: ...


class Sender(Protocol):
    """The SMTP client session (delivery.smtp_session.deliver, bound to its settings)."""

    def __call__(
        self, endpoint: Endpoint, messages: Sequence[OutboundMessage], tls: TlsRequirement,
        auth: SmtpAuth | None,
    ) -> Awaitable[SessionReport]: ...  # fmt: skip


class Notifier(Protocol):
    """Bounces, delay warnings and suppression (queue.notify)."""

    async def finished(
        self, entry: QueueEntry, verdicts: Sequence[Verdict], warn: bool
    ) -> None: ...
    async def suppressed(self, entry: QueueEntry, idx: int) -> Verdict | None: ...


@dataclass
class _Message:
    """A claimed message: its outcomes are recorded once, when all its destinations are done."""

    entry: QueueEntry
    verdicts: list[Verdict] = field(default_factory=list)
    logs: list[AttemptLog] = field(default_factory=list)
    outstanding: int = 0
    retry_at: datetime | None = None  # earlier retry for a destination we held back ourselves


@dataclass
class _Job:
    """One message's recipients at one destination domain."""

    message: _Message
    indexes: list[int]

    @property
    def entry(self) -> QueueEntry:
        return self.message.entry


class QueueManager:
    def __init__(
        self,
        *,
        store: Store,
        blobs: BlobStore,
        runner: AsyncStore,
        config: DeliveryConfig,
        node: str,
        router: Router,
        sender: Sender,
        notifier: Notifier,
        sign: Callable[[bytes], bytes] = lambda content: content,
        envelope: Callable[[QueueEntry, str], str] = lambda entry, rcpt: entry.sender,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store, self._blobs, self._runner = store, blobs, runner
        self._cfg = config
        self._node = node
        self._router, self._send, self._notifier, self._sign = router, sender, notifier, sign
        self._envelope = envelope
        self._recorder = Recorder(store, runner, node)
        self._rng = rng or random.Random()
        self._clock = clock
        self._throttle = Throttle(
            config.max_connections_per_domain,
            config.max_connections_per_host,
            config.max_messages_per_minute_per_domain,
            config.max_messages_per_minute_per_host,
        )
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections = 0

    # --- the loop ----------------------------------------------------------------------------
    def wake(self) -> None:
        """New mail was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # a store hiccup must not stop delivery for good
                log_event(log, "queue scan failed", logging.ERROR, error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._cfg.poll_interval)
            self._wake.clear()

    async def stop(self, grace: float) -> None:
        """Let deliveries in flight record their outcomes for up to `grace` seconds; cancel the
        rest (their leases expire and the messages are tried again: at-least-once)."""
        if self._tasks:
            _, late = await asyncio.wait(list(self._tasks), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self._recorder.stop()

    async def tick(self) -> None:
        """Claim what is due and start what the budgets allow."""
        if self._connections >= self._cfg.max_connections:
            return
        now = self._clock()
        lease = timedelta(seconds=self._cfg.lease_seconds)
        entries = await self._runner.run(self._store.claim_due, self._node, now, CLAIM_BATCH, lease)
        by_domain: dict[str, list[_Job]] = defaultdict(list)
        for entry in entries:
            await self._sort(_Message(entry), now, by_domain)
        for domain, jobs in by_domain.items():
            self._dispatch(domain, jobs)

    async def _sort(self, message: _Message, now: datetime, out: dict[str, list[_Job]]) -> None:
        """Split a claimed message by destination; decide at once what needs no connection."""
        entry = message.entry
        groups: dict[str, list[int]] = defaultdict(list)
        for idx in open_recipients(entry):
            verdict = await self._notifier.suppressed(entry, idx)
            if verdict is not None:
                message.verdicts.append(verdict)
            else:
                groups[_domain_of(entry, idx)].append(idx)
        message.verdicts += _orphans(entry)
        if groups and backoff.expired(entry.received_at, now, self._cfg.retry):
            ids = [i for group in groups.values() for i in group]
            message.verdicts += same_for_all(entry, ids, RcptStatus.BOUNCED, 550, "5.4.7",
                                             "gave up: queue lifetime exceeded")  # fmt: skip
            groups.clear()
        message.outstanding = len(groups)
        if not groups:
            await self._finish(message)
            return
        for domain, ids in groups.items():
            out[domain].append(_Job(message, ids))

    def _dispatch(self, domain: str, jobs: list[_Job]) -> None:
        """Start connections for a destination within its budget; hold back the rest."""
        now = time.monotonic()
        allowed = self._throttle.messages_allowed(domain, now, len(jobs))
        free = max(1, self._throttle.limit(domain) - self._throttle.active(domain))
        chunks = self._chunks(jobs[:allowed], free)
        held: list[_Job] = jobs[allowed:]
        for number, chunk in enumerate(chunks):
            if self._connections >= self._cfg.max_connections or not self._throttle.may_start(
                domain, time.monotonic()
            ):
                held += [job for rest in chunks[number:] for job in rest]
                break
            self._start_task(domain, chunk)
        if held:
            wait = max(1.0, self._throttle.paused_until(domain) - now)
            self._spawn(self._hold_back(held, wait))

    def _chunks(self, jobs: list[_Job], connections: int) -> list[list[_Job]]:
        """Connection loads: same source address, spread over the `connections` the
        destination may still open, at most messages_per_connection each."""
        per = min(self._cfg.messages_per_connection, max(1, -(-len(jobs) // connections)))
        by_source: dict[str, list[_Job]] = defaultdict(list)
        for job in jobs:
            by_source[self._source(job.entry)].append(job)
        return [
            group[i : i + per] for group in by_source.values() for i in range(0, len(group), per)
        ]

    def _source(self, entry: QueueEntry) -> str:
        """The local address to send from, chosen by the sender's domain (IP pools later)."""
        return self._cfg.source_addresses.get(entry.sender.rpartition("@")[2].lower(), "")

    def _start_task(self, domain: str, jobs: list[_Job]) -> None:
        self._throttle.start(domain)
        self._throttle.sent(domain, time.monotonic(), len(jobs))
        self._connections += 1
        self._spawn(self._deliver(domain, jobs))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _hold_back(self, jobs: Sequence[_Job], seconds: float) -> None:
        """A destination over its local budget: no attempt now, due again after the pause."""
        retry_at = self._clock() + timedelta(seconds=seconds)
        for job in jobs:
            job.message.retry_at = min(job.message.retry_at or retry_at, retry_at)
            verdicts = same_for_all(job.entry, job.indexes, RcptStatus.DEFERRED, 451, "4.4.5",
                                    "destination busy: held back by local limits")  # fmt: skip
            await self._job_done(job, verdicts)

    # --- one destination -------------------------------------------------------------------
    async def _deliver(self, domain: str, jobs: list[_Job]) -> None:
        verdicts: dict[int, list[Verdict]] = {}
        try:
            verdicts = await self._deliver_jobs(domain, jobs)
        except Exception:  # never leave a claimed message without an outcome
            log.exception("delivery to %s failed", domain)
        finally:
            self._throttle.finish(domain)
            self._connections -= 1
        for number, job in enumerate(jobs):
            got = verdicts.get(number) or same_for_all(
                job.entry, job.indexes, RcptStatus.DEFERRED, 451, "4.3.0", "local error"
            )
            await self._job_done(job, got)
        self._wake.set()

    async def _deliver_jobs(self, domain: str, jobs: list[_Job]) -> dict[int, list[Verdict]]:
        plan = await self._router.plan(domain)
        if plan.failure is not None:
            status, code, enhanced, text = plan.failure
            return {
                n: same_for_all(job.entry, job.indexes, status, code, enhanced, text)
                for n, job in enumerate(jobs)
            }
        messages = await asyncio.gather(*(self._outbound(job) for job in jobs))
        pending = list(range(len(jobs)))
        verdicts: dict[int, list[Verdict]] = {}
        for hop in plan.hops:
            if not pending:
                break
            host, count = hop.endpoint.host, len(pending)
            if self._throttle.host_free(host) and self._throttle.host_allows(
                host, time.monotonic(), count
            ):
                self._throttle.host_sent(host, time.monotonic(), count)
                pending = await self._try_hop(domain, hop, plan.auth, jobs, messages, pending,
                                              verdicts)  # fmt: skip
        self._held_by_hosts(jobs, [n for n in pending if n not in verdicts], verdicts)
        return verdicts

    def _held_by_hosts(
        self, jobs: Sequence[_Job], untried: list[int], verdicts: dict[int, list[Verdict]]
    ) -> None:
        """Every host was busy or over its rate: no attempt counted, due again in a minute."""
        retry_at = self._clock() + timedelta(seconds=RATE_RETRY_SECONDS)
        for n in untried:
            job = jobs[n]
            job.message.retry_at = min(job.message.retry_at or retry_at, retry_at)
            verdicts[n] = same_for_all(
                job.entry, job.indexes, RcptStatus.DEFERRED, 451, "4.4.5", _HOSTS_BUSY
            )

    async def _try_hop(
        self, domain: str, hop: Hop, auth: SmtpAuth | None, jobs: Sequence[_Job],
        messages: Sequence[OutboundMessage], pending: list[int],
        verdicts: dict[int, list[Verdict]],
    ) -> list[int]:  # fmt: skip
        """Deliver over one connection; return the jobs worth trying on the next host."""
        source = self._source(jobs[pending[0]].entry) or None
        endpoint = replace(hop.endpoint, source_ip=source)
        self._throttle.start_host(hop.endpoint.host)
        try:
            report = await self._send(endpoint, [messages[n] for n in pending], hop.tls, auth)
        finally:
            self._throttle.finish_host(hop.endpoint.host)
        await self._router.report(domain, hop, report)
        self._log_session(domain, report)
        results = {r.queue_id: r for r in report.results}
        remote = f"{hop.endpoint.host}[{hop.endpoint.ip}]:{hop.endpoint.port}"
        now = self._clock()
        for n in pending:
            job = jobs[n]
            verdicts[n] = verdicts_from(job.entry, job.indexes, results.get(job.entry.queue_id),
                                        remote)  # fmt: skip
            job.message.logs.append(attempt_log(job.entry, verdicts[n], report, now))
        self._feedback(domain, report)
        return pending if connection_failed(report) else []

    def _feedback(self, domain: str, report: SessionReport) -> None:
        replies = [r for result in report.results for r in result.recipients]
        if any(is_throttling(r.code, r.enhanced) for r in replies):
            pause = self._throttle.throttled(domain, time.monotonic())
            log_event(log, "throttled", domain=domain, pause=f"{pause:.0f}s")
        elif any(r.status == "delivered" for r in replies):
            self._throttle.succeeded(domain)

    async def _outbound(self, job: _Job) -> OutboundMessage:
        entry = job.entry
        content = await asyncio.to_thread(self._content, entry)
        by_idx = {r.idx: r for r in entry.recipients}
        rcpts: dict[str, OutboundRecipient] = {}
        for idx in job.indexes:
            r = by_idx[idx]
            rcpts.setdefault(r.address.lower(), OutboundRecipient(r.address, r.notify, r.orcpt))
        first = next(iter(rcpts.values())).address
        return OutboundMessage(
            queue_id=entry.queue_id, sender=self._envelope(entry, first),
            recipients=tuple(rcpts.values()),
            content=content, body_type=entry.body_type, smtputf8=entry.smtputf8,
            ret=entry.ret, envid=entry.envid,
        )  # fmt: skip

    def _content(self, entry: QueueEntry) -> bytes:
        """Off the event loop: read the body and DKIM-sign (an RSA signature costs ~1 ms)."""
        return self._sign(entry.prefix + self._blobs.get(entry.blob))

    # --- recording -------------------------------------------------------------------------
    async def _job_done(self, job: _Job, verdicts: Sequence[Verdict]) -> None:
        message = job.message
        message.verdicts += verdicts
        message.outstanding -= 1
        if message.outstanding == 0:
            await self._finish(message)

    async def _finish(self, message: _Message) -> None:
        """Record one message's outcomes (one transaction), then bounce, warn, suppress."""
        entry = message.entry
        now = self._clock()
        final = expire(message.verdicts, backoff.expired(entry.received_at, now, self._cfg.retry))
        deferred = any(v.status is RcptStatus.DEFERRED for v in final)
        warn = deferred and backoff.should_warn(
            entry.received_at, now, self._cfg.retry, entry.warned
        )
        next_at = self._next_attempt(message, now) if deferred else None
        result = AttemptResult(tuple(v.outcome() for v in final), tuple(message.logs), next_at,
                               warn)  # fmt: skip
        try:
            await self._recorder.record(entry.queue_id, result)
        except StoreError as exc:
            log_event(log, "outcome not recorded", logging.WARNING, queue_id=entry.queue_id,
                      error=str(exc))  # fmt: skip
            return
        for v in final:
            log_event(log, "status", queue_id=entry.queue_id, rcpt=f"<{v.address}>",
                      relay=v.remote_mta or "none", delay=_delay(entry, now),
                      dsn=v.enhanced, status=_LOG_STATUS[v.status], reply=v.reply)  # fmt: skip
        await self._notifier.finished(entry, final, warn)

    def _next_attempt(self, message: _Message, now: datetime) -> datetime:
        entry = message.entry
        later = backoff.next_attempt(now, entry.received_at, entry.attempts + 1, self._cfg.retry,
                                     self._rng)  # fmt: skip
        return min(later, message.retry_at) if message.retry_at else later

    def _log_session(self, domain: str, report: SessionReport) -> None:
        if report.error:
            log_event(log, "session failed", logging.INFO, domain=domain,
                      relay=f"{report.endpoint.host}[{report.endpoint.ip}]",
                      error=report.error)  # fmt: skip


def _domain_of(entry: QueueEntry, idx: int) -> str:
    return entry.recipients[idx].address.rpartition("@")[2].lower()


def _orphans(entry: QueueEntry) -> list[Verdict]:
    """Local recipients whose mailbox vanished before delivery: bounce, do not retry forever."""
    waiting = (RcptStatus.PENDING, RcptStatus.DEFERRED)
    ids = [r.idx for r in entry.recipients if r.status in waiting and r.deliver_to is not None]
    return same_for_all(entry, ids, RcptStatus.BOUNCED, 550, "5.1.1", "mailbox no longer exists")


def _delay(entry: QueueEntry, now: datetime) -> str:
    return f"{(now - entry.received_at).total_seconds():.1f}"
