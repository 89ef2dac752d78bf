"""Composition root: builds Roost's parts from the config and wires them. No protocol logic here."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import ssl
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from roost.accounts.authservice import AuthService
from roost.accounts.quota import QuotaPolicy
from roost.config import ConfigError, RoostConfig, resolve_path
from roost.config.model import ListenerConfig
from roost.delivery.engine import build_manager
from roost.dns import Resolver
from roost.imap.aio import ImapHandler
from roost.imap.core import ImapContext
from roost.imap.hub import MailboxHub
from roost.imap.memo import MessageMemo
from roost.listen import ConnectionLimiter
from roost.obs.log import log_event, setup_logging
from roost.pop3.aio import Pop3Handler
from roost.pop3.server import Pop3Options
from roost.pop3.session import MaildropLocks, Pop3Context
from roost.queue.feedback import DsnFeedback
from roost.queue.intake import Intake
from roost.queue.manager import QueueManager
from roost.smtp.aio import SmtpHandler, Timeouts
from roost.smtp.inbound import (
    MX,
    SUBMISSION,
    SUBMISSIONS,
    Limits,
    ListenerPolicy,
    ServerContext,
)
from roost.smtp.screening import Screening
from roost.smtp.server import ServerOptions
from roost.store import open_blobs, open_store
from roost.store.aio import AsyncStore
from roost.store.interface import Store
from roost.store.types import Directory

log = logging.getLogger("roost.app")

DIRECTORY_POLL_SECONDS = 1.0
QUOTA_REFRESH_SECONDS = 2.0  # RCPT quota checks lag real usage by at most this (plus a batch)
MAILBOX_POLL_SECONDS = 1.0  # IDLE hears of changes made by other processes within this
SHUTDOWN_GRACE_SECONDS = 10.0
GREYLIST_PURGE_SECONDS = 3600.0


def build_tls_context(config: RoostConfig) -> ssl.SSLContext | None:
    """Server TLS context from tls.cert/tls.key; None when neither file exists."""
    cert, key = resolve_path(config, config.tls.cert), resolve_path(config, config.tls.key)
    if not cert.exists() and not key.exists():
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 8996: no TLS 1.0/1.1
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"tls.cert = {str(cert)!r} / tls.key = {str(key)!r}: cannot load ({exc}); "
            "point them at a PEM certificate chain and its key, or run `roost init`"
        ) from None
    return ctx


def _no_tls(name: str) -> ConfigError:
    return ConfigError(
        f"listeners.{name}: needs TLS but tls.cert/tls.key do not exist; run `roost init`, set "
        f"tls.cert and tls.key, or set listeners.{name}.enabled = false"
    )


def _split_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class DirectoryCache:
    """The in-memory directory snapshot sessions consult at RCPT/AUTH; reloaded when it changes."""

    def __init__(self, store: Store, runner: AsyncStore) -> None:
        self._store = store
        self._runner = runner
        self.current: Directory = store.load_directory()

    def get(self) -> Directory:
        return self.current

    async def refresh(self) -> None:
        serial = await self._runner.run(self._store.directory_serial)
        if serial != self.current.serial:
            self.current = await self._runner.run(self._store.load_directory)
            log_event(log, "directory reloaded", serial=serial)

    async def poll(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except Exception as exc:  # a passing DB hiccup must not stop the server
                log_event(log, "directory reload failed", logging.WARNING, error=repr(exc))


@dataclass
class RoostServer:
    """A running Roost node: listeners, intake and background tasks, started and stopped as one."""

    config: RoostConfig
    ports: dict[str, int] = field(default_factory=dict)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _handlers: list[SmtpHandler] = field(default_factory=list)
    _pop3_handlers: list[Pop3Handler] = field(default_factory=list)
    _imap_handlers: list[ImapHandler] = field(default_factory=list)
    hub: MailboxHub = field(default_factory=MailboxHub)
    imap_memo: MessageMemo = field(default_factory=lambda: MessageMemo(0))
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        cfg = self.config
        self._store = open_store(cfg)
        self._blobs = open_blobs(cfg, self._store)
        self._runner = AsyncStore(self._store, self._blobs)
        self._intake = Intake(
            self._store,
            self._blobs,
            self._runner,
            max_batch=cfg.smtp.group_commit_max,
            inline_max=cfg.storage.inline_blob_max,
            on_local_delivery=self._delivered,
        )
        self._intake.start()
        self.quota = QuotaPolicy(self._runner, cfg.mailbox.default_quota)
        await self.quota.refresh()
        self._tasks.append(asyncio.create_task(self._refresh_quota()))
        self._directory = DirectoryCache(self._store, self._runner)
        self._tasks.append(asyncio.create_task(self._directory.poll(DIRECTORY_POLL_SECONDS)))
        # One per server: every listener (SMTP, POP3, IMAP) counts failures in the same tables.
        self._auth = AuthService(self._directory.get, cfg.auth)
        self._manager: QueueManager | None = None
        # One resolver (and cache) for delivery and the checks on the MX listener.
        self.resolver = Resolver.from_config(cfg.dns)
        if cfg.delivery.enabled:
            background: list[Coroutine[Any, Any, None]] = []
            self._manager = build_manager(
                cfg,
                store=self._store,
                blobs=self._blobs,
                runner=self._runner,
                intake=self._intake,
                directory=self._directory.get,
                background=background,
                resolver=self.resolver,
            )
            self._tasks += [asyncio.create_task(work) for work in background]
            self._intake.committed.append(self._manager.wake)
            self._tasks.append(asyncio.create_task(self._manager.run()))
        self.screening = Screening(cfg, self.resolver, self._runner)
        if self.screening.greylister is not None:
            purge = self.screening.purge_greylist(GREYLIST_PURGE_SECONDS)
            self._tasks.append(asyncio.create_task(purge))
        tls = build_tls_context(cfg)
        context = self._context(tls is not None)
        limiter = ConnectionLimiter(cfg.limits.max_connections, cfg.limits.max_connections_per_ip)
        roles: list[tuple[ListenerConfig, ListenerPolicy]] = [
            (cfg.listeners.mx, MX),
            (cfg.listeners.submission, SUBMISSION),
            (cfg.listeners.submissions, SUBMISSIONS),
        ]
        for listener, policy in roles:
            if listener.enabled:
                await self._listen(listener, policy, context, tls, limiter)
        await self._listen_pop3(tls, limiter)
        await self._listen_imap(tls, limiter)

    def _delivered(self, users: frozenset[str]) -> None:
        """After each committed batch: IDLE sessions hear at once; quota usage catches up."""
        self.hub.notify_many(users)
        self.quota.request_refresh(users)

    async def _refresh_quota(self) -> None:
        while True:
            await asyncio.sleep(QUOTA_REFRESH_SECONDS)
            try:
                await self.quota.refresh()
            except Exception as exc:
                log_event(log, "quota refresh failed", logging.WARNING, error=repr(exc))

    async def _listen_imap(self, tls: ssl.SSLContext | None, limiter: ConnectionLimiter) -> None:
        """IMAP (STARTTLS) and IMAPS (implicit TLS), sharing one change hub and one memo."""
        cfg = self.config
        self.imap_memo = MessageMemo(cfg.imap.cache_size)
        context = ImapContext(
            hostname=cfg.server.hostname,
            directory=self._directory.get,
            runner=self._runner,
            store=self._store,
            blobs=self._blobs,
            auth=self._auth,
            hub=self.hub,
            default_quota=cfg.mailbox.default_quota,
            tls_available=tls is not None,
            allow_plaintext_auth=cfg.imap.auth_plaintext_without_tls,
            max_errors=cfg.limits.max_errors,
            inline_max=cfg.storage.inline_blob_max,
            memo=self.imap_memo,
        )
        runner, store = self._runner, self._store

        async def read_marks(users: Sequence[str]) -> dict[tuple[str, str], tuple[int, int, int]]:
            return await runner.run(store.mailbox_marks, users)

        self._tasks.append(asyncio.create_task(self.hub.poll(read_marks, MAILBOX_POLL_SECONDS)))
        for name, listener, implicit in (
            ("imap", cfg.listeners.imap, False),
            ("imaps", cfg.listeners.imaps, True),
        ):
            if not listener.enabled:
                continue
            if tls is None and (implicit or not cfg.imap.auth_plaintext_without_tls):
                raise _no_tls(name)
            handler = ImapHandler(
                context, name=name, implicit_tls=implicit, tls_context=tls, limiter=limiter,
                idle_timeout=cfg.imap.idle_timeout, max_line=cfg.imap.max_line,
                max_literal=cfg.imap.max_literal,
            )  # fmt: skip
            await self._bind(name, listener, handler, tls if implicit else None)
            self._imap_handlers.append(handler)

    async def _listen_pop3(self, tls: ssl.SSLContext | None, limiter: ConnectionLimiter) -> None:
        """POP3 (STLS) and POP3S (implicit TLS), sharing one maildrop lock table."""
        cfg = self.config
        context = Pop3Context(
            hostname=cfg.server.hostname,
            directory=self._directory.get,
            runner=self._runner,
            store=self._store,
            blobs=self._blobs,
            auth=self._auth,
            locks=MaildropLocks(),
            tls_available=tls is not None,
            max_errors=cfg.limits.max_errors,
            error_delay_after=cfg.limits.error_delay_after,
            error_delay=cfg.limits.error_delay,
        )
        for name, listener, implicit in (
            ("pop3", cfg.listeners.pop3, False),
            ("pop3s", cfg.listeners.pop3s, True),
        ):
            if not listener.enabled:
                continue
            if tls is None and (implicit or not cfg.pop3.auth_plaintext_without_tls):
                raise _no_tls(name)
            options = Pop3Options(
                tls_active=implicit, allow_plaintext_auth=cfg.pop3.auth_plaintext_without_tls
            )
            handler = Pop3Handler(
                context, options, name=name, tls_context=tls, limiter=limiter,
                idle_timeout=cfg.pop3.idle_timeout,
            )  # fmt: skip
            await self._bind(name, listener, handler, tls if implicit else None)
            self._pop3_handlers.append(handler)

    def _context(self, tls_available: bool) -> ServerContext:
        cfg = self.config
        return ServerContext(
            hostname=cfg.server.hostname,
            limits=Limits(
                max_message_size=cfg.limits.max_message_size,
                max_recipients=cfg.limits.max_recipients,
                max_header_size=cfg.limits.max_header_size,
                max_errors=cfg.limits.max_errors,
                error_delay_after=cfg.limits.error_delay_after,
                error_delay=cfg.limits.error_delay,
                reject_bare_line_endings=cfg.smtp.bare_line_endings == "reject",
            ),
            relay_networks=[ipaddress.ip_network(n, strict=False) for n in cfg.relay.networks],
            directory=self._directory.get,
            intake=self._intake,
            spool_dir=self._blobs.spool_dir(),
            auth=self._auth,
            tls_available=tls_available,
            bounce_domain=cfg.delivery.verp_domain.lower(),
            bounce_sink=DsnFeedback(self._store, self._runner),
            over_quota=self.quota.over_quota,
            screening=self.screening,
        )

    async def _listen(
        self,
        listener: ListenerConfig,
        policy: ListenerPolicy,
        context: ServerContext,
        tls: ssl.SSLContext | None,
        limiter: ConnectionLimiter,
    ) -> None:
        if tls is None and policy.auth:
            raise _no_tls(policy.name)
        limits = self.config.limits
        handler = SmtpHandler(
            context,
            policy,
            ServerOptions(max_data_line=limits.max_line_length, tls_active=policy.implicit_tls),
            tls_context=tls,
            limiter=limiter,
            timeouts=Timeouts(command=limits.command_timeout, data=limits.data_timeout),
        )
        await self._bind(policy.name, listener, handler, tls if policy.implicit_tls else None)
        self._handlers.append(handler)

    async def _bind(
        self,
        name: str,
        listener: ListenerConfig,
        factory: Callable[[], asyncio.BaseProtocol],
        implicit_tls: ssl.SSLContext | None,
    ) -> None:
        """Listen on `listener.address` (implicit TLS when a context is given); a busy or
        privileged port is a config error naming the key."""
        host, port = _split_address(listener.address)
        try:
            server = await asyncio.get_running_loop().create_server(
                factory, host, port, ssl=implicit_tls,
                ssl_handshake_timeout=30.0 if implicit_tls is not None else None,
                reuse_address=True, backlog=1024,
            )  # fmt: skip
        except OSError as exc:
            raise ConfigError(
                f"listeners.{name}.address = {listener.address!r}: cannot listen "
                f"({exc.strerror}); choose a free address:port "
                "(ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            ) from None
        self._servers.append(server)
        self.ports[name] = server.sockets[0].getsockname()[1]
        log_event(log, "listening", listener=name, address=f"{host}:{self.ports[name]}")

    async def reload_directory(self) -> None:
        await self._directory.refresh()

    async def stop(self) -> None:
        """Stop accepting, let answers in progress finish briefly, flush intake, close storage."""
        for server in self._servers:
            server.close()
        await asyncio.gather(*(h.shutdown(SHUTDOWN_GRACE_SECONDS) for h in self._handlers))
        await asyncio.gather(*(h.shutdown(SHUTDOWN_GRACE_SECONDS) for h in self._pop3_handlers))
        await asyncio.gather(*(h.shutdown(SHUTDOWN_GRACE_SECONDS) for h in self._imap_handlers))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._manager is not None:
            await self._manager.stop(SHUTDOWN_GRACE_SECONDS)
        await self.screening.close()
        await self._intake.stop()
        await self.quota.close()
        self._runner.close()  # closes the store after the calls already submitted


async def run(config: RoostConfig, ready: Callable[[RoostServer], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT."""
    server = RoostServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    log_event(log, "ready", hostname=config.server.hostname, **dict(server.ports))
    if ready:
        ready(server)
    await stop.wait()
    log_event(log, "stopping")
    await server.stop()


def serve(config: RoostConfig) -> None:
    """Blocking entry point for `roost serve`."""
    setup_logging(config.log.format, config.log.level)
    try:
        import uvloop

        runner: Callable[..., None] = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(run(config))
