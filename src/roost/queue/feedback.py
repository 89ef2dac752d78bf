"""Inbound DSNs sent to Roost's VERP return paths feed the suppression list.

The VERP address names the original sender (whose domain's list it is); the DSN's own
recipient blocks (RFC 3464 §2.3) name the addresses that failed. Only hard bounces count, by the
same rule as bounces seen during delivery (queue.suppression.is_hard_bounce).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from roost.obs.log import log_event
from roost.queue.bounces import BounceReport, parse_dsn, parse_verp
from roost.queue.suppression import is_hard_bounce, split_reply, suppression_for
from roost.store.aio import AsyncStore
from roost.store.interface import Store

log = logging.getLogger("roost.delivery")


def hard_failures(reports: Sequence[BounceReport]) -> list[BounceReport]:
    """Recipient blocks saying the address itself is bad (Action: failed, a 5.1.x-like status)."""
    out = []
    for report in reports:
        code, enhanced = split_reply(report.diagnostic)
        enhanced = report.status or enhanced
        code = code or (550 if enhanced.startswith("5.") else 0)
        if report.action == "failed" and is_hard_bounce(code, enhanced):
            out.append(report)
    return out


class DsnFeedback:
    def __init__(
        self,
        store: Store,
        runner: AsyncStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store, self._runner, self._clock = store, runner, clock

    async def __call__(self, addresses: list[str], message: bytes) -> None:
        failures = hard_failures(parse_dsn(message))
        for address in addresses:
            decoded = parse_verp(address)
            if decoded is None:
                log_event(log, "bounce address not decodable", rcpt=f"<{address}>")
                continue
            sender, _ = decoded
            for report in failures:
                reason = report.diagnostic or report.status
                entry = suppression_for(sender, report.recipient, reason, "dsn", self._clock())
                await self._runner.run(self._store.add_suppression, entry)
                log_event(log, "suppression added", rcpt=f"<{report.recipient}>",
                          domain=entry.sender_domain, source="dsn")  # fmt: skip
