"""Builds the outbound delivery engine from the config: the composition of the queue manager
with routing, TLS policy, the SMTP client, DKIM signing and notifications. No logic here."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from roost.auth import dmarc_report
from roost.auth.dkim import DkimSigner, signing_domain
from roost.config import RoostConfig, resolve_path
from roost.delivery import smtp_session, tlsrpt
from roost.delivery.mtasts import MtaStsCache, StorePolicyCache, fetch_settings
from roost.delivery.policy import tls_contexts
from roost.delivery.router import DnsRouter
from roost.dns import Resolver
from roost.obs.log import log_event
from roost.queue.bounces import verp_address
from roost.queue.inject import inject
from roost.queue.intake import Intake
from roost.queue.manager import QueueManager
from roost.queue.notify import QueueNotifier
from roost.store.aio import AsyncStore
from roost.store.interface import BlobStore, Store
from roost.store.types import Directory, QueueEntry

log = logging.getLogger("roost.delivery")

TLSRPT_CHECK_SECONDS = 3600.0  # how often the daily report loops look at the date


def node_name(config: RoostConfig) -> str:
    """Lease owner: the node's name plus this process, so a restarted node never mistakes a
    dead process's lease for its own (it waits for the lease to expire, then takes over)."""
    return f"{config.server.node_id or socket.gethostname()}/{os.getpid()}"


Submit = Callable[[str, list[str], bytes], Awaitable[Any]]
Clock = Callable[[], datetime]


async def daily_tls_reports(
    config: RoostConfig, runner: AsyncStore, resolver: Resolver, submit: Submit,
    clock: Clock = lambda: datetime.now(UTC),
) -> None:  # fmt: skip
    """RFC 8460 §3: each UTC day, mail the previous day's aggregate report to every policy
    domain that asked for one. The report-id is derived from day and domain, so a report sent
    again after a restart is recognisable as the same one by its receiver."""
    await _daily(config, "tlsrpt", tlsrpt.send_daily_reports, runner, resolver, submit, clock)


async def daily_dmarc_reports(
    config: RoostConfig, runner: AsyncStore, resolver: Resolver, submit: Submit,
    clock: Clock = lambda: datetime.now(UTC),
) -> None:  # fmt: skip
    """RFC 7489 §7.2: each UTC day, mail the previous day's aggregate reports to the rua of
    every domain whose mail was evaluated (checks.dmarc_reports)."""
    await _daily(config, "dmarc", dmarc_report.send_daily_reports, runner, resolver, submit, clock)


async def _daily(
    config: RoostConfig,
    kind: str,
    send: Callable[..., Awaitable[int]],
    runner: AsyncStore,
    resolver: Resolver,
    submit: Submit,
    clock: Clock,
) -> None:
    """Check hourly whether yesterday's reports of `kind` went out; send them once."""
    hostname = config.server.hostname
    sent_for = ""
    while True:
        yesterday = (clock() - timedelta(days=1)).strftime("%Y-%m-%d")
        if yesterday != sent_for:
            count = await send(
                runner, resolver, submit, yesterday, organization=hostname,
                contact=f"postmaster@{hostname}", from_addr=f"noreply-{kind}@{hostname}",
                hostname=hostname,
            )  # fmt: skip
            log_event(log, f"{kind} reports sent", day=yesterday, reports=count)
            sent_for = yesterday
        await asyncio.sleep(TLSRPT_CHECK_SECONDS)


def build_manager(
    config: RoostConfig,
    *,
    store: Store,
    blobs: BlobStore,
    runner: AsyncStore,
    intake: Intake,
    directory: Callable[[], Directory],
    background: list[Coroutine[Any, Any, None]],
    resolver: Resolver | None = None,
) -> QueueManager:
    """The queue manager with its collaborators; loops it needs running go into `background`.
    `resolver` is shared with the inbound checks when given (one DNS cache per process)."""
    cfg = config.delivery
    resolver = resolver or Resolver.from_config(config.dns)
    ca_file = str(resolve_path(config, cfg.tls_ca_file)) if cfg.tls_ca_file else ""
    contexts = tls_contexts(ca_file)
    mtasts = None
    if cfg.mta_sts:
        settings = fetch_settings(cfg, contexts.verify)
        mtasts = MtaStsCache(StorePolicyCache(runner), resolver, settings)
    router = DnsRouter(cfg, resolver, mtasts=mtasts, store=store, runner=runner, contexts=contexts)
    hostname = config.server.hostname
    sender = _sender(cfg.helo_name or hostname)

    async def submit(sender_addr: str, recipients: list[str], data: bytes) -> Any:
        return await inject(intake, directory, sender=sender_addr, recipients=recipients,
                            data=data, hostname=hostname)  # fmt: skip

    notifier = QueueNotifier(store=store, runner=runner, blobs=blobs, inject=submit,
                             hostname=hostname, retry=cfg.retry)  # fmt: skip
    if cfg.tlsrpt:
        background.append(daily_tls_reports(config, runner, resolver, submit))
    if config.checks.dmarc_reports:
        background.append(daily_dmarc_reports(config, runner, resolver, submit))
    return QueueManager(
        store=store, blobs=blobs, runner=runner, config=cfg, node=node_name(config),
        router=router, sender=sender, notifier=notifier, sign=_signer(config, directory),
        envelope=_envelope(config, directory),
    )  # fmt: skip


def _envelope(
    config: RoostConfig, directory: Callable[[], Directory]
) -> Callable[[QueueEntry, str], str]:
    """VERP: mail from local senders goes out with a return path that names sender and
    recipient, so a DSN coming back identifies both even when its body is sloppy."""
    domain = config.delivery.verp_domain.lower()
    if not domain:
        return lambda entry, rcpt: entry.sender

    def envelope(entry: QueueEntry, rcpt: str) -> str:
        sender_domain = entry.sender.rpartition("@")[2].lower()
        if entry.sender and sender_domain in directory().domains:
            return verp_address(entry.sender, rcpt, domain)
        return entry.sender

    return envelope


def _sender(helo_name: str) -> Any:
    async def send(endpoint: Any, messages: Any, tls: Any, auth: Any) -> Any:
        return await smtp_session.deliver(endpoint, messages, helo_name=helo_name, tls=tls,
                                          auth=auth)  # fmt: skip

    return send


def _signer(config: RoostConfig, directory: Callable[[], Directory]) -> Callable[[bytes], bytes]:
    """DKIM-sign mail whose From domain is local (that is the domain DMARC aligns on)."""
    if not config.dkim.sign:
        return lambda content: content
    signer = DkimSigner.from_config(config)
    return functools.partial(_sign, signer, directory)


def _sign(signer: DkimSigner, directory: Callable[[], Directory], content: bytes) -> bytes:
    domain = signing_domain(content, directory().domains)
    if domain is None:
        return content
    header = signer.sign(content, domain)
    return header + content if header else content
