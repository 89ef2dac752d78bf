"""What the IMAP session's parts share: context, options, I/O and the state they all read.

`ImapSession` (session.py) combines `MailboxCommands` (mailboxes.py) and `MessageCommands`
(messages.py); all three derive from `SessionCore`, which declares the per-connection state
and the reply helpers, so each part can be read (and type-checked) on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from roost.accounts.authservice import AuthService
from roost.imap import names
from roost.imap import responses as r
from roost.imap.hub import MailboxHub, Watch
from roost.imap.memo import MessageMemo
from roost.imap.states import State
from roost.imap.view import MailboxView
from roost.store.aio import AsyncStore
from roost.store.interface import BlobStore, Store
from roost.store.types import Directory


class SessionIO(Protocol):
    """What the session needs from the connection (the asyncio adapter implements it)."""

    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...  # wait while the client is slow to read
    async def start_tls(self) -> None: ...
    def expect_done(self) -> None: ...  # IDLE: the next line is DONE
    def expect_sasl(self) -> None: ...  # AUTHENTICATE: the next line is a SASL response
    def wake(self) -> None: ...  # mail changed while idling: run `idle_update` soon


@dataclass(slots=True)
class ImapContext:
    """What every IMAP session of a server shares."""

    hostname: str
    directory: Callable[[], Directory]
    runner: AsyncStore
    store: Store
    blobs: BlobStore
    auth: AuthService
    hub: MailboxHub
    default_quota: int = 0
    tls_available: bool = True
    allow_plaintext_auth: bool = False
    max_errors: int = 10
    inline_max: int = 64 * 1024
    memo: MessageMemo = field(default_factory=lambda: MessageMemo(0))


@dataclass(slots=True)
class Options:
    """What the client ENABLEd (RFC 5161) and how names travel."""

    condstore: bool = False
    qresync: bool = False
    rev2: bool = False
    enabled: set[str] = field(default_factory=set)

    @property
    def utf8(self) -> bool:
        return self.rev2  # RFC 9051 §5.1: IMAP4rev2 names are UTF-8


class SessionCore:
    """Per-connection state and reply helpers (see the module docstring)."""

    ctx: ImapContext
    io: SessionIO
    ip: str
    tls: bool
    session_id: str
    state: State
    user: str
    options: Options
    view: MailboxView | None
    saved: frozenset[int] | None
    idling: str | None
    changed: bool
    errors: int
    close_requested: bool
    _watch: Watch | None

    def bad(self, tag: str | None, text: str) -> None:
        self.errors += 1
        if tag is None:
            self.io.write(r.untagged(r.Status.BAD, text))
        else:
            self.io.write(r.tagged(tag, r.Status.BAD, text))
        if self.errors >= self.ctx.max_errors:
            self.io.write(r.untagged(r.Status.BYE, "Too many errors, closing connection"))
            self.close_requested = True

    def ok(self, tag: str, text: str, code: r.Code | None = None) -> None:
        self.io.write(r.tagged(tag, r.Status.OK, text, code))

    def no(self, tag: str, text: str, code: r.Code | None = None) -> None:
        self.io.write(r.tagged(tag, r.Status.NO, text, code))

    def store_name(self, wire: str) -> str:
        """The store's name for a mailbox name the client sent (raises names.BadName)."""
        return names.from_wire(wire, utf8=self.options.utf8)

    def wire_name(self, name: str) -> str:
        return names.to_wire(name, utf8=self.options.utf8)

    def notify_others(self) -> None:
        """This session changed the user's mail: wake their other sessions."""
        self.ctx.hub.notify(self.user, exclude=self._watch)

    async def quota_limit(self) -> tuple[int, int]:
        """(used octets, limit octets; 0 = none) for this user."""
        usage = await self.ctx.runner.run(self.ctx.store.get_quota, self.user)
        limit = usage.limit if usage.limit is not None else self.ctx.default_quota
        return usage.used, limit

    async def over_quota(self, incoming: int) -> bool:
        used, limit = await self.quota_limit()
        return limit > 0 and used + incoming > limit

    def own_changes(self, modseqs: Sequence[int]) -> None:
        """Flags this session changed and reported (messages.py)."""
        raise NotImplementedError

    async def catch_up(self, *, expunges: bool) -> None:
        """Send the untagged updates for changes made elsewhere (messages.py)."""
        raise NotImplementedError
