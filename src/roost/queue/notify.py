"""What follows a delivery outcome: DSNs to the sender, and the suppression list.

RFC 3464 reports go to the envelope sender with the null reverse-path (so they never bounce
back, RFC 5321 §6.1); which ones are sent follows the recipient's NOTIFY (RFC 3461 §4.1, in
queue.dsn). A permanent failure for the address itself (queue.suppression.is_hard_bounce) puts
the recipient on the sender domain's suppression list; later mail to it bounces at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Literal

from roost.config.model import RetryConfig
from roost.obs.log import log_event
from roost.queue import backoff
from roost.queue.dsn import DsnRecipient, build_dsn
from roost.queue.outcome import Verdict, uniform
from roost.queue.suppression import is_hard_bounce, sender_domain, suppression_for
from roost.store.aio import AsyncStore
from roost.store.interface import BlobStore, Store
from roost.store.types import QueueEntry, RcptStatus

log = logging.getLogger("roost.delivery")

Inject = Callable[[str, list[str], bytes], Awaitable[object]]
_ACTION: dict[RcptStatus, Literal["failed", "delayed", "delivered"]] = {
    RcptStatus.BOUNCED: "failed",
    RcptStatus.DEFERRED: "delayed",
    RcptStatus.DELIVERED: "delivered",
}


class QueueNotifier:
    def __init__(
        self,
        *,
        store: Store,
        runner: AsyncStore,
        blobs: BlobStore,
        inject: Inject,
        hostname: str,
        retry: RetryConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store, self._runner, self._blobs = store, runner, blobs
        self._inject = inject
        self._hostname = hostname
        self._retry = retry
        self._clock = clock

    async def suppressed(self, entry: QueueEntry, idx: int) -> Verdict | None:
        """A recipient on the sender domain's list bounces without a connection."""
        domain = sender_domain(entry.sender)
        if not domain:
            return None
        address = entry.recipients[idx].address
        found = await self._runner.run(self._store.find_suppression, domain, address)
        if found is None:
            return None
        text = f"recipient suppressed since {found.created_at:%Y-%m-%d} ({found.reason})"
        log_event(log, "suppressed", queue_id=entry.queue_id, rcpt=f"<{address}>")
        return uniform(idx, address, RcptStatus.BOUNCED, 550, "5.1.1", text, "")

    async def finished(self, entry: QueueEntry, verdicts: Sequence[Verdict], warn: bool) -> None:
        await self._suppress(entry, verdicts)
        for status, kind_verdicts in _by_status(verdicts).items():
            if status is RcptStatus.DEFERRED and not warn:
                continue
            await self._report(entry, kind_verdicts, _ACTION[status])

    async def _suppress(self, entry: QueueEntry, verdicts: Sequence[Verdict]) -> None:
        now = self._clock()
        for v in verdicts:
            remote = bool(v.remote_mta)  # only the receiving server can say an address is bad
            if v.status is RcptStatus.BOUNCED and remote and is_hard_bounce(v.code, v.enhanced):
                if not sender_domain(entry.sender):
                    continue
                entry_ = suppression_for(entry.sender, v.address, v.reply, "bounce", now)
                await self._runner.run(self._store.add_suppression, entry_)
                log_event(log, "suppression added", queue_id=entry.queue_id,
                          rcpt=f"<{v.address}>", domain=entry_.sender_domain)  # fmt: skip

    async def _report(
        self, entry: QueueEntry, verdicts: Sequence[Verdict],
        kind: Literal["failed", "delayed", "delivered"],
    ) -> None:  # fmt: skip
        by_idx = {r.idx: r for r in entry.recipients}
        recipients = [
            DsnRecipient(v.address, by_idx[v.idx].orcpt, by_idx[v.idx].notify, v.enhanced or
                         _default_status(kind), kind, v.reply, _host(v.remote_mta))
            for v in verdicts
        ]  # fmt: skip
        original = entry.prefix + await asyncio.to_thread(self._blobs.get, entry.blob)
        retry_until = backoff.give_up_at(entry.received_at, self._retry)
        dsn = build_dsn(entry, original, recipients, reporting_mta=self._hostname, kind=kind,
                        now=self._clock(), retry_until=retry_until)  # fmt: skip
        if dsn is None:
            return
        queue_id = await self._inject("", [entry.sender], dsn)
        log_event(log, "dsn", queue_id=entry.queue_id, kind=kind, dsn_queue_id=queue_id or "none")


def _by_status(verdicts: Sequence[Verdict]) -> dict[RcptStatus, list[Verdict]]:
    out: dict[RcptStatus, list[Verdict]] = {}
    for v in verdicts:
        out.setdefault(v.status, []).append(v)
    return out


def _default_status(kind: str) -> str:
    return {"failed": "5.0.0", "delayed": "4.0.0", "delivered": "2.0.0"}[kind]


def _host(remote_mta: str) -> str:
    """ "mx.example[192.0.2.1]:25" -> "mx.example" for the Remote-MTA field."""
    return remote_mta.partition("[")[0]
