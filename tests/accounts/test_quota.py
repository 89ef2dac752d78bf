"""Quota: the in-memory policy over a real store, and its use at RCPT (452 4.2.2)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime

from roost.accounts.authservice import AuthService
from roost.accounts.quota import QuotaPolicy
from roost.config.model import AuthConfig
from roost.queue.intake import Intake
from roost.smtp import events as ev
from roost.smtp.inbound import MX, ClientInfo, InboundSession, Limits, ServerContext
from roost.smtp.reply import Reply
from roost.smtp.server import ServerConnection
from roost.store.aio import AsyncStore
from roost.store.blobs import TieredBlobStore
from roost.store.interface import Store
from roost.store.types import BlobRef, QuotaUsage

ALICE = "alice@example.org"
BOB = "bob@example.org"
WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def fill(store: Store, user: str, octets: int) -> None:
    data = b"Subject: x\r\n\r\n" + b"y" * (octets - 14)
    ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
    store.append_message(user, "INBOX", ref, data, frozenset(), WHEN)


def test_policy_limits_and_refresh(local_store: Store) -> None:
    fill(local_store, ALICE, 1000)
    local_store.set_quota(ALICE, 1500)
    local_store.set_quota(BOB, 0)  # unlimited for bob, whatever the default

    async def run() -> None:
        runner = AsyncStore(local_store)
        try:
            policy = QuotaPolicy(runner, default_quota=100)
            assert not policy.over_quota(ALICE, 10**9)  # nothing loaded yet: never over
            await policy.refresh()
            assert policy.usage("Alice@example.org") == QuotaUsage(1500, 1000, 1)
            assert policy.effective_limit(QuotaUsage(None, 0, 0)) == 100
            assert policy.effective_limit(QuotaUsage(0, 0, 0)) is None
            assert not policy.over_quota(ALICE, 500)
            assert policy.over_quota(ALICE, 501)
            assert not policy.over_quota(BOB, 10**9)
            assert not policy.over_quota("new@example.org", 10**9)
            local_store.set_quota(ALICE, None)  # back to the default of 100
            policy.request_refresh()
            policy.request_refresh(frozenset({ALICE}))  # coalesced with the one on its way
            await policy.close()
            assert policy.over_quota(ALICE, 0)
        finally:
            runner.close()  # closes the store too; the fixture's second close is a no-op

    asyncio.run(run())


def _session(
    store: Store, blobs: TieredBlobStore, policy: QuotaPolicy, runner: AsyncStore
) -> InboundSession:
    directory = store.load_directory()
    ctx = ServerContext(
        hostname="mx.example.org",
        limits=Limits(10**7, 100, 65536, 20, 10, 0.0, True),
        relay_networks=[],
        directory=lambda: directory,
        intake=Intake(store, blobs, runner),
        spool_dir=blobs.spool_dir(),
        auth=AuthService(lambda: directory, AuthConfig()),
        tls_available=False,
        over_quota=policy.over_quota,
    )
    session = InboundSession(ctx, ClientInfo("192.0.2.7", 40000, MX), ServerConnection())
    assert isinstance(session.handle(ev.Ehlo("client.remote.test", True)), Reply)
    return session


def rcpt(session: InboundSession, address: str) -> str:
    reply = session.handle(ev.RcptTo(address))
    assert isinstance(reply, Reply)
    return f"{reply.code} {reply.enhanced} {reply.text}"


def test_rcpt_refused_with_452_when_mailbox_full(
    local_store: Store, blobs: TieredBlobStore
) -> None:
    fill(local_store, ALICE, 1000)
    local_store.set_quota(ALICE, 1200)
    local_store.add_alias("team@example.org", [ALICE, BOB])

    async def run() -> list[str]:
        runner = AsyncStore(local_store)
        policy = QuotaPolicy(runner, default_quota=0)
        await policy.refresh()
        session = _session(local_store, blobs, policy, runner)
        replies: list[str] = []
        # no SIZE declared: alice is still under her limit
        session.handle(ev.MailFrom("s@remote.test"))
        replies += [rcpt(session, ALICE), rcpt(session, BOB)]
        session.handle(ev.Rset())
        # SIZE=300 would take alice past 1200 octets; bob has no limit
        session.handle(ev.MailFrom("s@remote.test", {"SIZE": "300"}))
        replies += [rcpt(session, ALICE), rcpt(session, BOB), rcpt(session, "team@example.org")]
        session.close()
        runner.close()
        return replies

    assert asyncio.run(run()) == [
        "250 2.1.5 Recipient OK",
        "250 2.1.5 Recipient OK",
        "452 4.2.2 <alice@example.org>: mailbox full",
        "250 2.1.5 Recipient OK",
        "452 4.2.2 <team@example.org>: mailbox full",
    ]
