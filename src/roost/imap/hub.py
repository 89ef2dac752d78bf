"""Mailbox change notification for IMAP sessions (IDLE, untagged EXISTS/EXPUNGE/FETCH).

Changes made in this process (SMTP delivery, IMAP APPEND/STORE/EXPUNGE in another session)
call `notify(user)` at once. Changes made elsewhere (another node sharing PostgreSQL, the
`roost` CLI) are found by one poller per process: every `interval` seconds it reads the
(uidvalidity, highestmodseq, uidnext) of every mailbox of the users that have a session, in
one query, and notifies those whose marks moved. So an IDLE client hears of new mail within
about a second whoever delivered it, and 1,000 idle sessions cost one query a second, not 1,000.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from roost.obs.log import log_event

log = logging.getLogger("roost.imap")

Marks = dict[tuple[str, str], tuple[int, int, int]]


class Watch:
    """One session's registration; `callback` runs on the event loop when the user's mail
    changes (it must be cheap: set a flag, maybe start a task)."""

    __slots__ = ("callback", "user")

    def __init__(self, user: str, callback: Callable[[], None]) -> None:
        self.user = user
        self.callback = callback


class MailboxHub:
    """Who is watching which user's mailboxes, and the poller for changes made elsewhere."""

    def __init__(self) -> None:
        self._watches: dict[str, set[Watch]] = {}
        self._marks: dict[str, dict[str, tuple[int, int, int]]] = {}

    def watch(self, user: str, callback: Callable[[], None]) -> Watch:
        watch = Watch(user, callback)
        self._watches.setdefault(user, set()).add(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        watches = self._watches.get(watch.user)
        if watches is None:
            return
        watches.discard(watch)
        if not watches:
            del self._watches[watch.user]
            self._marks.pop(watch.user, None)

    def watched_users(self) -> list[str]:
        return list(self._watches)

    def notify(self, user: str, *, exclude: Watch | None = None) -> None:
        """`user`'s mail changed: wake every session of theirs (but `exclude`, the author)."""
        for watch in tuple(self._watches.get(user, ())):
            if watch is not exclude:
                watch.callback()

    def notify_many(self, users: Sequence[str] | frozenset[str]) -> None:
        for user in users:
            self.notify(user)

    def absorb(self, marks: Marks) -> list[str]:
        """Compare freshly read marks with the last ones; notify and return the users whose
        mailboxes changed. The first reading of a user counts as a change: something may have
        happened between a session's login and that reading, and a needless catch-up costs
        one query."""
        per_user: dict[str, dict[str, tuple[int, int, int]]] = {}
        for (user, name), mark in marks.items():
            per_user.setdefault(user, {})[name] = mark
        changed = []
        for user in self.watched_users():
            now = per_user.get(user, {})
            before = self._marks.get(user)
            self._marks[user] = now
            if before != now:
                changed.append(user)
                self.notify(user)
        return changed

    async def poll(
        self, read: Callable[[Sequence[str]], Awaitable[Marks]], interval: float
    ) -> None:
        """Run forever: read the marks of watched users every `interval` seconds."""
        while True:
            await asyncio.sleep(interval)
            users = self.watched_users()
            if not users:
                continue
            try:
                marks = await read(users)
            except Exception as exc:
                log_event(log, "mailbox poll failed", logging.WARNING, error=repr(exc))
                continue
            self.absorb(marks)
