"""Per-user STORAGE quota (RFC 9208) as an in-memory table, so RCPT checks cost no query.

`refresh()` loads every user's usage and limit in one store call; the server runs it every
couple of seconds and after each local delivery batch (`request_refresh`). Between refreshes
the table can lag by what arrived since, which only lets a user overshoot their limit by about
one batch; the check is at RCPT (with the declared SIZE) so the sender is told early.
"""

from __future__ import annotations

import asyncio
import logging

from roost.obs.log import log_event
from roost.store.aio import AsyncStore
from roost.store.types import QuotaUsage

log = logging.getLogger("roost.quota")


class QuotaPolicy:
    """`default_quota` in octets (config mailbox.default_quota), 0 = unlimited; a per-user
    limit (QuotaUsage.limit) overrides it, and a per-user 0 is unlimited too."""

    def __init__(self, store: AsyncStore, default_quota: int) -> None:
        self._store = store
        self._default = default_quota
        self._table: dict[str, QuotaUsage] = {}
        self._pending: asyncio.Task[None] | None = None

    def effective_limit(self, usage: QuotaUsage) -> int | None:
        """The limit in octets that applies, or None when the user is unlimited."""
        limit = self._default if usage.limit is None else usage.limit
        return limit or None

    def usage(self, user: str) -> QuotaUsage | None:
        """The last loaded usage of `user` (None when unknown to the last refresh)."""
        return self._table.get(user.lower())

    def over_quota(self, user: str, incoming_size: int) -> bool:
        """Would `incoming_size` more octets exceed the user's limit? A pure lookup; a user
        not in the table (added since the last refresh) is never over."""
        usage = self._table.get(user.lower())
        if usage is None:
            return False
        limit = self.effective_limit(usage)
        return limit is not None and usage.used + incoming_size > limit

    async def refresh(self) -> None:
        """Reload the whole table (one query on the store thread)."""
        store = self._store.store
        self._table = await self._store.run(store.quota_table)

    def request_refresh(self, _users: frozenset[str] = frozenset()) -> None:
        """Schedule a refresh unless one is already on its way (callable from the loop, e.g.
        as Intake's on_local_delivery)."""
        if self._pending is not None and not self._pending.done():
            return
        self._pending = asyncio.get_running_loop().create_task(self._refresh_logged())

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # the next periodic refresh tries again
            log_event(log, "quota refresh failed", logging.WARNING, error=repr(exc))

    async def close(self) -> None:
        """Wait for a scheduled refresh, so shutdown does not leave it pending."""
        if self._pending is not None:
            await asyncio.gather(self._pending, return_exceptions=True)
