"""Inbound SMTP policy (RFC 5321, RFC 6409): what Roost answers to each command event.

The sans-I/O `ServerConnection` decides what is legal in which state; this session decides what
is *allowed*: relay control, AUTH, sender ownership, recipient lookup, limits, and hands finished
messages to intake. It never touches the wire: the asyncio adapter feeds it events and writes
the replies it returns. It may await the store (through intake) and password checks.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from roost.accounts.authservice import AuthService
from roost.obs.log import log_event
from roost.queue.ids import new_queue_id, new_session_id
from roost.queue.intake import Intake
from roost.queue.spool import Spool, SpooledMessage
from roost.smtp import events as ev
from roost.smtp import sasl
from roost.smtp.extensions import (
    MailParams,
    ParamError,
    ehlo_lines,
    parse_mail_params,
    parse_rcpt_params,
)
from roost.smtp.headers import HeaderWatcher
from roost.smtp.received import TlsInfo, TraceInfo, received_header
from roost.smtp.recipients import is_local_domain, may_send_as, resolve
from roost.smtp.reply import (
    C214_HELP,
    C220_GREETING,
    C220_TLS_GO,
    C221_BYE,
    C235_AUTH_OK,
    C250_CHUNK_OK,
    C250_HELO,
    C250_OK,
    C250_QUEUED,
    C250_RCPT_OK,
    C250_SENDER_OK,
    C252_VRFY,
    C354_START_DATA,
    C421_TOO_MANY_ERRORS,
    C451_LOCAL_ERROR,
    C452_MAILBOX_FULL,
    C452_TOO_MANY_RECIPIENTS,
    C454_TEMP_AUTH_FAILURE,
    C454_TLS_UNAVAILABLE,
    C501_AUTH_CANCELLED,
    C502_AUTH_NOT_OFFERED,
    C502_EXPN_DISABLED,
    C530_AUTH_REQUIRED,
    C535_AUTH_FAILED,
    C538_ENCRYPTION_REQUIRED,
    C550_BARE_LINE_ENDING,
    C550_LINE_TOO_LONG,
    C550_NO_SUCH_USER,
    C550_NUL_IN_DATA,
    C550_RELAY_DENIED,
    C552_HEADER_TOO_BIG,
    C552_TOO_BIG,
    C553_SENDER_NOT_OWNED,
    C554_NO_VALID_RECIPIENTS,
    C554_TRANSACTION_FAILED,
    Reply,
)
from roost.smtp.screening import ClientScreen, MessageInfo, Screening
from roost.smtp.server import ServerConnection
from roost.store.types import BlobRef, Directory, NewMessage, NewRecipient

log = logging.getLogger("roost.smtp")

#: What the session answers: a reply now, or a coroutine that yields one (storage, password check).
Answer = Reply | Coroutine[Any, Any, Reply]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ListenerPolicy:
    """What a listener role allows: MX (port 25), submission (587), submissions (465)."""

    name: str
    auth: bool  # AUTH offered (after TLS)
    auth_required: bool  # MAIL needs AUTH first (RFC 6409 §4.3)
    implicit_tls: bool = False


MX = ListenerPolicy("mx", auth=False, auth_required=False)
SUBMISSION = ListenerPolicy("submission", auth=True, auth_required=True)
SUBMISSIONS = ListenerPolicy("submissions", auth=True, auth_required=True, implicit_tls=True)


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_size: int
    max_recipients: int
    max_header_size: int
    max_errors: int
    error_delay_after: int
    error_delay: float
    reject_bare_line_endings: bool


@dataclass(slots=True)
class ServerContext:
    """What every session shares: identity, limits, the directory snapshot, intake."""

    hostname: str
    limits: Limits
    relay_networks: Sequence[Network]
    directory: Callable[[], Directory]
    intake: Intake
    spool_dir: str
    auth: AuthService  # every password check, with brute-force protection
    tls_available: bool
    # VERP return paths (bounces+...@bounce_domain) take DSNs: handed to bounce_sink, not stored.
    bounce_domain: str = ""
    bounce_sink: Callable[[list[str], bytes], Awaitable[None]] | None = None
    # (local user, incoming octets) -> over quota? An in-memory lookup (accounts.quota); None:
    # no quota check.
    over_quota: Callable[[str, int], bool] | None = None
    # Sender authentication and local policy (smtp/screening.py); None: nothing is judged.
    screening: Screening | None = None


@dataclass(slots=True)
class ClientInfo:
    ip: str
    port: int
    listener: ListenerPolicy
    tls: Callable[[], TlsInfo | None] = lambda: None


@dataclass(slots=True)
class _Transaction:
    queue_id: str
    sender: str
    body_type: str
    smtputf8: bool
    ret: str | None
    envid: str | None
    recipients: list[NewRecipient] = field(default_factory=list)
    rcpt_addresses: list[str] = field(default_factory=list)
    bounce_addresses: list[str] = field(default_factory=list)
    rcpt_commands: int = 0
    spool: Spool | None = None
    headers: HeaderWatcher | None = None
    too_big: bool = False
    bdat_failed: bool = False
    declared_size: int = 0  # RFC 1870 SIZE= of MAIL FROM, 0 when not given


class InboundSession:
    def __init__(self, server: ServerContext, client: ClientInfo, conn: ServerConnection) -> None:
        self._server = server
        self._client = client
        self._conn = conn
        self._limits = server.limits
        self.session_id = new_session_id()
        self._helo = ""
        self._extended = False
        self._user: str | None = None
        self._tx: _Transaction | None = None
        self._sasl: sasl.Exchange | None = None
        self.errors = 0
        self.start_tls_requested = False
        self.messages = 0
        self._screen: ClientScreen | None = None
        if server.screening is not None:
            judged = client.listener is MX and not self._trusted_client()
            self._screen = server.screening.open(client.ip, judged=judged)

    # --- connection level ------------------------------------------------------------------
    def greeting(self) -> Reply:
        if self._screen is not None and self._screen.refusal is not None:
            return self._screen.refusal  # connection rate: 421, every later command too
        return C220_GREETING.with_text(f"{self._server.hostname} ESMTP Roost")

    def penalty(self) -> float:
        """Seconds to wait before the next reply: slows down clients that keep making errors."""
        over = self.errors - self._limits.error_delay_after
        return min(over * self._limits.error_delay, 30.0) if over > 0 else 0.0

    def close(self) -> None:
        self._drop_transaction()
        if self._screen is not None:
            self._screen.close()

    def _fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"session": self.session_id}
        if self._tx:
            fields["queue_id"] = self._tx.queue_id
        return fields

    def _error(self, reply: Reply) -> Reply:
        """Count a client error; past the limit the answer becomes 421 and the session ends."""
        self.errors += 1
        if self.errors >= self._limits.max_errors:
            log_event(
                log, "too many errors", logging.WARNING, **self._fields(), client=self._client.ip
            )
            return C421_TOO_MANY_ERRORS
        return reply

    # --- dispatch ---------------------------------------------------------------------------
    def handle(self, event: ev.Event) -> Answer | None:
        """The answer to `event`: a reply, None (no reply due), or a coroutine to await for one.

        Only storing a message and checking a password need to wait; everything else is answered
        synchronously, so the adapter pays for a coroutine only where one is needed.
        """
        match event:
            case ev.MessageData(data):
                self._on_data(data)
                return None
            case ev.ConnectionClosed():
                self.close()
                return None
            case ev.DataEnd() | ev.ChunkEnd():
                return self._on_message_end(event)
            case ev.CommandError(reply):
                return self._error(reply)
        if self._screen is not None and self._screen.refusal is not None:
            return self._screen.refusal  # refused at the greeting; RFC 5321 §3.8: 421 closes
        handler = self._HANDLERS.get(type(event))
        assert handler is not None, f"no handler for {event!r}"
        return cast(Answer | None, handler(self, event))

    # --- session commands -------------------------------------------------------------------
    def _on_ehlo(self, event: ev.Ehlo) -> Reply:
        self._drop_transaction()
        self._helo, self._extended = event.domain, event.extended
        log_event(log, "helo", session=self.session_id, helo=event.domain, client=self._client.ip)
        if not event.extended:
            return C250_HELO.with_text(self._server.hostname)
        tls = self._conn.tls_active
        offer_auth = self._client.listener.auth and tls and not self._conn.authenticated
        return ehlo_lines(
            self._server.hostname,
            "Roost",
            size=self._limits.max_message_size,
            starttls=self._server.tls_available and not tls,
            auth_mechanisms=sasl.MECHANISMS if offer_auth else (),
            chunking=True,
            smtputf8=True,
            dsn=True,
        )

    def _on_rset(self, _: ev.Rset) -> Reply:
        self._drop_transaction()
        return C250_OK

    def _on_noop(self, _: ev.Noop) -> Reply:
        return C250_OK

    def _on_quit(self, _: ev.Quit) -> Reply:
        self._drop_transaction()
        return C221_BYE

    def _on_help(self, _: ev.Help) -> Reply:
        return C214_HELP

    def _on_vrfy(self, _: ev.Vrfy) -> Reply:
        return C252_VRFY  # RFC 5321 §3.5.3: 252, no user enumeration

    def _on_expn(self, _: ev.Expn) -> Reply:
        return C502_EXPN_DISABLED

    def _on_starttls(self, _: ev.StartTls) -> Reply:
        if not self._server.tls_available:
            return C454_TLS_UNAVAILABLE
        self.start_tls_requested = True
        self._drop_transaction()
        return C220_TLS_GO

    # --- AUTH (RFC 4954) ----------------------------------------------------------------------
    def _on_auth(self, event: ev.Auth) -> Answer:
        if not self._client.listener.auth:
            return self._error(C502_AUTH_NOT_OFFERED)
        if not self._conn.tls_active:
            # RFC 4954 §4: no plaintext AUTH before TLS.
            return self._error(C538_ENCRYPTION_REQUIRED)
        return self._sasl_step(sasl.start(event.mechanism, event.initial_response))

    def _on_auth_response(self, event: ev.AuthResponse) -> Answer:
        exchange, self._sasl = self._sasl, None
        if event.cancelled or exchange is None:
            return self._error(C501_AUTH_CANCELLED)  # RFC 4954 §4: "*" cancels with 501
        return self._sasl_step(exchange.step(event.data))

    def _sasl_step(self, step: sasl.Step) -> Answer:
        match step:
            case sasl.Challenge(exchange, challenge):
                self._sasl = exchange
                return sasl.challenge_reply(challenge)
            case sasl.Credentials():
                return self._check_credentials(step)
            case sasl.SaslFailure(reply):
                return self._error(reply)
        raise AssertionError(step)

    async def _check_credentials(self, creds: sasl.Credentials) -> Reply:
        result = await self._server.auth.verify(
            creds.username,
            creds.password,
            client_ip=self._client.ip,
            protocol="smtp",
            authzid=creds.authzid,
            session=self.session_id,
        )
        if result.blocked:
            # RFC 4954 §6: 454 4.7.0 is a temporary failure, so the client may try again later
            # (with the same credentials); the password was not checked.
            return self._error(C454_TEMP_AUTH_FAILURE)
        if not result.ok:
            return self._error(C535_AUTH_FAILED)
        self._user = result.user
        return C235_AUTH_OK

    # --- transaction ------------------------------------------------------------------------
    def _on_mail(self, event: ev.MailFrom) -> Answer:
        if self._client.listener.auth_required and self._user is None:
            return self._error(C530_AUTH_REQUIRED)  # RFC 6409 §4.3
        try:
            params = parse_mail_params(event.params)
        except ParamError as exc:
            return self._error(exc.reply)
        if params.size is not None and params.size > self._limits.max_message_size:
            return C552_TOO_BIG  # RFC 1870 §6.2
        sender = event.reverse_path
        if self._user and sender and not may_send_as(self._server.directory(), self._user, sender):
            return self._error(C553_SENDER_NOT_OWNED)
        screened = self._screen.mail(sender, self._helo) if self._screen is not None else None
        if isinstance(screened, Reply):
            return self._error(screened)
        if screened is not None:
            return self._mail_screened(screened, sender, params)
        return self._open_transaction(sender, params)

    async def _mail_screened(
        self, screened: Awaitable[Reply | None], sender: str, params: MailParams
    ) -> Reply:
        refusal = await screened
        if refusal is not None:
            return self._error(refusal)
        return self._open_transaction(sender, params)

    def _open_transaction(self, sender: str, params: MailParams) -> Reply:
        self._tx = _Transaction(
            new_queue_id(), sender, params.body or "7BIT", params.smtputf8, params.ret, params.envid
        )
        self._tx.declared_size = params.size or 0
        log_event(
            log,
            "from",
            **self._fields(),
            sender=f"<{sender}>",
            client=self._client.ip,
            size=params.size or "",
            user=self._user or "",
        )
        return C250_SENDER_OK

    def _on_rcpt(self, event: ev.RcptTo) -> Answer:
        tx = self._tx
        assert tx is not None, "the state table allows RCPT only inside a transaction"
        if tx.rcpt_commands >= self._limits.max_recipients:
            return C452_TOO_MANY_RECIPIENTS  # RFC 5321 §4.5.3.1.10: 452, client retries later
        tx.rcpt_commands += 1
        try:
            params = parse_rcpt_params(event.params)
        except ParamError as exc:
            return self._error(exc.reply)
        address = self._expand_postmaster(event.forward_path)
        if self._is_bounce_address(address):
            tx.bounce_addresses.append(address)
            return C250_RCPT_OK
        mark = len(tx.recipients), len(tx.rcpt_addresses)
        reply = self._route(tx, address, params.notify, params.orcpt)
        if reply.is_positive and self._screen is not None and self._screen.greylists(tx.sender):
            return self._greylist(tx, address, mark)
        log_event(log, "to", **self._fields(), rcpt=f"<{address}>", status=reply.code)
        return reply

    async def _greylist(self, tx: _Transaction, address: str, mark: tuple[int, int]) -> Reply:
        """RFC 6647: after the recipient is known to exist, defer an unknown triplet."""
        assert self._screen is not None
        reply = await self._screen.greylist(tx.sender, address) or C250_RCPT_OK
        if not reply.is_positive:
            del tx.recipients[mark[0] :], tx.rcpt_addresses[mark[1] :]
        log_event(log, "to", **self._fields(), rcpt=f"<{address}>", status=reply.code)
        return reply

    def _is_bounce_address(self, address: str) -> bool:
        domain = self._server.bounce_domain
        local, _, at = address.rpartition("@")
        return bool(domain) and at.lower() == domain and local.lower().startswith("bounces+")

    def _expand_postmaster(self, path: str) -> str:
        """RFC 5321 §4.1.1.3: a bare <postmaster> means this host's postmaster."""
        if "@" in path:
            return path
        domains = sorted(self._server.directory().domains)
        return f"postmaster@{domains[0]}" if domains else f"postmaster@{self._server.hostname}"

    def _route(
        self, tx: _Transaction, address: str, notify: tuple[str, ...] | None, orcpt: str | None
    ) -> Reply:
        directory = self._server.directory()
        if is_local_domain(directory, address):
            targets = resolve(directory, address)
            if targets is None:
                return self._error(C550_NO_SUCH_USER)
        elif self._user is not None or self._trusted_client():
            targets = None
        else:
            return self._error(C550_RELAY_DENIED)
        over = self._server.over_quota
        if targets is not None and over is not None:
            for target in targets:
                if target.local_user and over(target.local_user, tx.declared_size):
                    # RFC 3463 §3.3 X.2.2 mailbox full; 452 so the sender retries later
                    return C452_MAILBOX_FULL.with_text(f"<{address}>: mailbox full")
        notify_text = ",".join(notify) if notify else None
        if targets is None:
            tx.recipients.append(NewRecipient(address, None, b"", orcpt, notify_text))
        else:
            original = orcpt or f"rfc822;{address}"
            for target in targets:
                prefix = _delivery_prefix(tx.sender, target.address) if target.local_user else b""
                tx.recipients.append(
                    NewRecipient(target.address, target.local_user, prefix, original, notify_text)
                )
        tx.rcpt_addresses.append(address)
        return C250_RCPT_OK

    def _trusted_client(self) -> bool:
        try:
            ip = ipaddress.ip_address(self._client.ip)
        except ValueError:
            return False
        return any(ip in net for net in self._server.relay_networks)

    # --- message content --------------------------------------------------------------------
    def _on_data_cmd(self, _: ev.Data) -> Reply:
        self._start_content()
        return C354_START_DATA

    def _on_bdat(self, _: ev.Bdat) -> None:
        tx = self._tx
        if tx is not None and tx.spool is None and not tx.bdat_failed:
            self._start_content()
        return

    def _start_content(self) -> None:
        tx = self._tx
        assert tx is not None
        tx.spool = Spool(self._server.spool_dir)
        tx.headers = HeaderWatcher(self._limits.max_header_size)

    def _on_data(self, data: bytes) -> None:
        tx = self._tx
        if tx is None or tx.spool is None:
            return  # a refused BDAT: the connection consumes the bytes, we drop them
        if tx.headers is not None:
            tx.headers.feed(data)
        if tx.spool.size + len(data) > self._limits.max_message_size:
            tx.too_big = True
            tx.spool.discard()
            tx.spool = None
            return
        tx.spool.write(data)

    def _on_message_end(self, event: ev.DataEnd | ev.ChunkEnd) -> Answer:
        tx = self._tx
        if tx is None or not (tx.recipients or tx.bounce_addresses):
            self._drop_transaction()
            return self._error(C554_NO_VALID_RECIPIENTS)  # RFC 3030 §2: BDAT without RCPT
        refusal = self._content_refusal(tx, event)
        if refusal is not None:
            if isinstance(event, ev.ChunkEnd) and not event.last:
                tx.bdat_failed = True  # keep refusing the chunks until LAST (RFC 3030 §2)
                self._discard_content(tx)
                return refusal
            self._drop_transaction()
            return refusal
        if isinstance(event, ev.ChunkEnd) and not event.last:
            assert tx.spool is not None
            return C250_CHUNK_OK.with_text(f"Ok: {tx.spool.size} octets received")
        return self._store(tx)

    def _content_refusal(self, tx: _Transaction, event: ev.DataEnd | ev.ChunkEnd) -> Reply | None:
        if tx.bdat_failed:
            return C554_TRANSACTION_FAILED
        if tx.too_big:
            return C552_TOO_BIG
        if tx.headers is not None and tx.headers.too_big:
            return C552_HEADER_TOO_BIG
        if isinstance(event, ev.DataEnd):
            if event.nul:
                return C550_NUL_IN_DATA
            if event.bare_line_ending and self._limits.reject_bare_line_endings:
                return C550_BARE_LINE_ENDING  # SMTP smuggling defence, RFC 5321 §2.3.8
            if event.long_line:
                return C550_LINE_TOO_LONG
        return None

    async def _store(self, tx: _Transaction) -> Reply:
        assert tx.spool is not None
        content = tx.spool.finish()
        tx.spool = None
        junk, screen_headers = False, b""
        if self._screen is not None:
            refusal = self._screen.message_rate(tx.sender, self._user)
            info = MessageInfo(tx.queue_id, tx.sender, tx.rcpt_addresses, self._helo, self._user,
                               self._forwarded_domain(tx))  # fmt: skip
            verdict = await self._screen.judge(info, content) if refusal is None else None
            refusal = refusal or (verdict.reply if verdict else None)
            if refusal is not None or verdict is None:
                content.discard()
                self._tx = None
                return refusal or C451_LOCAL_ERROR
            content, junk, screen_headers = verdict.content, verdict.junk, verdict.headers
        if tx.bounce_addresses:
            refused = await self._take_bounce(tx, content)
            if refused is not None or not tx.recipients:
                content.discard()
                self._tx = None
                return refused or C250_QUEUED.with_text(f"Ok: report {tx.queue_id} processed")
        prefix = screen_headers + self._prefix(tx)
        build = self._builder(tx, prefix, junk)
        try:
            await self._server.intake.submit(content, build)
        except Exception as exc:
            content.discard()
            log_event(log, "not stored", logging.ERROR, **self._fields(), error=repr(exc))
            self._tx = None
            return C451_LOCAL_ERROR
        self.messages += 1
        fields = self._fields()
        log_event(
            log, "queued", **fields, size=content.size + len(prefix), nrcpt=len(tx.recipients)
        )
        for rcpt in tx.recipients:
            status = "delivered to mailbox" if rcpt.deliver_to else "queued for delivery"
            log_event(log, "status", **fields, rcpt=f"<{rcpt.address}>", status=status)
        self._tx = None
        return C250_QUEUED.with_text(f"Ok: queued as {tx.queue_id}")

    async def _take_bounce(self, tx: _Transaction, content: SpooledMessage) -> Reply | None:
        """Feed a DSN sent to a VERP address to the suppression list before answering 250."""
        sink = self._server.bounce_sink
        if sink is None:
            return None
        data = content.data
        if data is None:
            assert content.path is not None
            data = await asyncio.to_thread(Path(content.path).read_bytes)
        try:
            await sink(tx.bounce_addresses, data)
        except Exception as exc:
            log_event(log, "bounce not processed", logging.ERROR, **self._fields(), error=repr(exc))
            return C451_LOCAL_ERROR
        log_event(log, "bounce processed", **self._fields(), rcpt=",".join(tx.bounce_addresses))
        return None

    def _forwarded_domain(self, tx: _Transaction) -> str:
        """The local domain of an alias that sends this message off-site (for the ARC seal)."""
        directory = self._server.directory()
        for rcpt in tx.recipients:
            alias = (rcpt.orcpt or "").partition(";")[2]
            if rcpt.deliver_to is None and alias and is_local_domain(directory, alias):
                return alias.rpartition("@")[2].lower()
        return ""

    def _builder(
        self, tx: _Transaction, prefix: bytes, junk: bool = False
    ) -> Callable[[BlobRef], NewMessage]:
        received_at = datetime.now(UTC)

        def build(blob: BlobRef) -> NewMessage:
            return NewMessage(
                queue_id=tx.queue_id,
                sender=tx.sender,
                recipients=tuple(tx.recipients),
                blob=blob,
                prefix=prefix,
                received_at=received_at,
                client_ip=self._client.ip,
                helo=self._helo,
                auth_user=self._user,
                body_type=tx.body_type,
                smtputf8=tx.smtputf8,
                ret=tx.ret,
                envid=tx.envid,
                junk=junk,
            )

        return build

    def _prefix(self, tx: _Transaction) -> bytes:
        trace = TraceInfo(
            helo=self._helo,
            client_ip=self._client.ip,
            hostname=self._server.hostname,
            queue_id=tx.queue_id,
            extended=self._extended,
            tls=self._client.tls(),
            authenticated=self._user is not None,
            smtputf8=tx.smtputf8,
            recipients=tuple(tx.rcpt_addresses),
            when=datetime.now(UTC),
        )
        prefix = received_header(trace)
        if self._user is not None and tx.headers is not None:
            prefix += self._submission_fixups(tx.headers.field_names())
        return prefix

    def _submission_fixups(self, present: set[str]) -> bytes:
        """RFC 6409 §8.2, §8.3: a submission server may add a missing Date and Message-ID."""
        added = b""
        if "date" not in present:
            added += f"Date: {email.utils.format_datetime(datetime.now(UTC))}\r\n".encode()
        if "message-id" not in present:
            added += f"Message-ID: <{secrets.token_hex(12)}@{self._server.hostname}>\r\n".encode()
        return added

    def _discard_content(self, tx: _Transaction) -> None:
        if tx.spool is not None:
            tx.spool.discard()
            tx.spool = None

    def _drop_transaction(self) -> None:
        if self._tx is not None:
            self._discard_content(self._tx)
            self._tx = None

    _HANDLERS: dict[type, Callable[..., object]] = {
        ev.Ehlo: _on_ehlo,
        ev.MailFrom: _on_mail,
        ev.RcptTo: _on_rcpt,
        ev.Data: _on_data_cmd,
        ev.Bdat: _on_bdat,
        ev.Rset: _on_rset,
        ev.Noop: _on_noop,
        ev.Quit: _on_quit,
        ev.Help: _on_help,
        ev.Vrfy: _on_vrfy,
        ev.Expn: _on_expn,
        ev.StartTls: _on_starttls,
        ev.Auth: _on_auth,
        ev.AuthResponse: _on_auth_response,
    }


def _delivery_prefix(sender: str, recipient: str) -> bytes:
    """RFC 5321 §4.4: the final delivery adds Return-Path; Delivered-To marks the mailbox."""
    return f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n".encode()
