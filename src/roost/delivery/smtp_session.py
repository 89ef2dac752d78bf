"""Outbound SMTP over one connection (RFC 5321 §3, §4.5.3.2), carrying one or more messages.

`deliver()` is the asyncio adapter around the sans-I/O `ClientConnection`: it connects, reads
the greeting, says EHLO, upgrades with STARTTLS as the TLS requirement says (RFC 3207),
authenticates (RFC 4954), and then runs one transaction per message, pipelining the envelope
when the server allows it (RFC 2920). It never raises for network or protocol trouble: every
recipient ends up in the `SessionReport` as delivered, deferred or bounced, and a recipient is
reported delivered only when the server's 250 to the end of the data was read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal

from roost.delivery.content import Prepared, Refused, prepare
from roost.obs.log import log_event
from roost.smtp.client import ClientConnection, ReplyError, ServerReply, read_ehlo
from roost.smtp.client_body import received_form, xtext_encode
from roost.smtp.client_ehlo import Extensions
from roost.smtp.errors import LocalProtocolError
from roost.smtp.events import ConnectionClosed
from roost.smtp.reply import Reply

log = logging.getLogger("roost.delivery")

READ_SIZE = 65536
WRITE_BLOCK = 256 * 1024  # one "TCP SEND" for the data block timeout
BDAT_CHUNK = 1024 * 1024

# Locally generated temporary failures (RFC 3463 codes; the server never gave a final answer).
C451_CONNECT_FAILED = Reply(451, "4.4.1", "No answer from host")  # X.4.1
C451_CONNECTION_LOST = Reply(451, "4.4.2", "Connection lost")  # X.4.2: bad connection
C451_TIMEOUT = Reply(451, "4.4.2", "Timed out waiting for the server")
C451_PROTOCOL_ERROR = Reply(451, "4.5.0", "Server protocol error")  # X.5.0
C451_NOT_ATTEMPTED = Reply(451, "4.4.0", "Delivery not attempted")
C454_TLS_FAILED = Reply(454, "4.7.5", "TLS required but not available")  # X.7.5: crypto failure
C454_AUTH_UNAVAILABLE = Reply(454, "4.7.0", "Cannot authenticate to this server")
# A refused password is our configuration's fault, not the recipient's: defer (soft bounce).
C454_AUTH_FAILED = Reply(454, "4.7.8", "Authentication failed")


@dataclass(frozen=True, slots=True)
class OutboundRecipient:
    address: str
    notify: str | None = None  # RFC 3461 NOTIFY value, e.g. "SUCCESS,FAILURE"
    orcpt: str | None = None  # "rfc822;address" (or a bare address)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    queue_id: str
    sender: str  # "" for the null reverse-path
    recipients: tuple[OutboundRecipient, ...]
    content: bytes  # prefix + body: the full message
    body_type: str = "7BIT"
    smtputf8: bool = False
    ret: str | None = None  # RFC 3461 RET: FULL or HDRS
    envid: str | None = None


@dataclass(frozen=True, slots=True)
class TlsRequirement:
    mode: Literal["none", "may", "encrypt", "verify"]
    ssl_context: ssl.SSLContext | None = None  # verifying for "verify", else non-verifying
    server_hostname: str | None = None  # SNI, and the name checked in "verify" mode


@dataclass(frozen=True, slots=True)
class SmtpAuth:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str  # the MX name, for logs and SNI
    ip: str
    port: int = 25
    source_ip: str | None = None


@dataclass(frozen=True, slots=True)
class Timeouts:
    """RFC 5321 §4.5.3.2 defaults; the last three are ours (the RFC names none)."""

    initial: float = 300.0  # §4.5.3.2.1: waiting for the greeting
    mail: float = 300.0  # §4.5.3.2.2: MAIL (also EHLO, STARTTLS, AUTH, RSET)
    rcpt: float = 300.0  # §4.5.3.2.3
    data_init: float = 120.0  # §4.5.3.2.4: the 354 to DATA
    data_block: float = 180.0  # §4.5.3.2.5: each write of the body
    data_done: float = 600.0  # §4.5.3.2.6: the reply after "."
    connect: float = 30.0
    tls_handshake: float = 60.0
    quit: float = 30.0


@dataclass(frozen=True, slots=True)
class RecipientResult:
    address: str
    code: int
    enhanced: str
    text: str
    status: Literal["delivered", "deferred", "bounced"]


@dataclass(frozen=True, slots=True)
class MessageResult:
    queue_id: str
    recipients: tuple[RecipientResult, ...]


@dataclass(frozen=True, slots=True)
class SessionReport:
    endpoint: Endpoint
    tls: str | None  # e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"
    tls_failure: str | None  # TLS-RPT style result type, e.g. "certificate-not-trusted"
    results: tuple[MessageResult, ...]
    error: str | None  # connection-level failure, if any


def recipient_result(address: str, reply: Reply) -> RecipientResult:
    """2xx delivered, 5xx bounced, anything else (4xx, or nonsense) deferred."""
    cls = reply.code // 100
    status: Literal["delivered", "deferred", "bounced"] = (
        "delivered" if cls == 2 else "bounced" if cls == 5 else "deferred"
    )
    return RecipientResult(address, reply.code, reply.enhanced, reply.text, status)


class _Drop(Exception):
    """The session cannot go on; every recipient without a final answer gets `reply`."""

    def __init__(self, reason: str, reply: Reply, *, in_sync: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reply = reply
        self.in_sync = in_sync  # the stream is still usable, so QUIT politely


class _Outcome:
    """Per-recipient answers of one message; the first final answer for an address wins."""

    def __init__(self, message: OutboundMessage) -> None:
        self.message = message
        self._final: dict[str, Reply] = {}

    def set(self, address: str, reply: Reply) -> None:
        self._final.setdefault(address, reply)

    def set_all(self, addresses: Sequence[str], reply: Reply) -> None:
        for address in addresses:
            self.set(address, reply)

    def fail_rest(self, reply: Reply) -> None:
        self.set_all([r.address for r in self.message.recipients], reply)

    def result(self) -> MessageResult:
        out = []
        for rcpt in self.message.recipients:
            reply = self._final.get(rcpt.address, C451_NOT_ATTEMPTED)
            out.append(recipient_result(rcpt.address, reply))
        return MessageResult(self.message.queue_id, tuple(out))


def _with_reason(reply: Reply, reason: str) -> Reply:
    return reply.with_text(f"{reply.text}: {reason}")


@contextlib.asynccontextmanager
async def _guard(what: str, seconds: float) -> AsyncIterator[None]:
    """Run one network step for at most `seconds`, turning its failures into a _Drop."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise _Drop(f"timeout ({seconds:g}s) {what}", _with_reason(C451_TIMEOUT, what)) from None
    except ReplyError as exc:
        reason = f"protocol error {what}: {exc}"
        raise _Drop(reason, _with_reason(C451_PROTOCOL_ERROR, str(exc))) from None
    except OSError as exc:  # includes ssl.SSLError and ConnectionResetError
        reason = f"connection lost {what}: {exc!r}"
        raise _Drop(reason, _with_reason(C451_CONNECTION_LOST, what)) from None


class _Wire:
    """One TCP (later TLS) stream plus the sans-I/O client connection reading it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = ClientConnection()

    @classmethod
    async def open(cls, endpoint: Endpoint, seconds: float) -> _Wire:
        local = (endpoint.source_ip, 0) if endpoint.source_ip else None
        try:
            async with asyncio.timeout(seconds):
                reader, writer = await asyncio.open_connection(
                    endpoint.ip, endpoint.port, local_addr=local, limit=READ_SIZE
                )
        except (OSError, TimeoutError) as exc:
            reason = f"connect to {endpoint.ip}:{endpoint.port} failed: {exc!r}"
            raise _Drop(reason, _with_reason(C451_CONNECT_FAILED, endpoint.ip)) from None
        return cls(reader, writer)

    async def send(self, data: bytes, seconds: float, what: str) -> None:
        async with _guard(f"sending {what}", seconds):
            self.writer.write(data)
            await self.writer.drain()

    async def reply(self, seconds: float, what: str) -> ServerReply:
        """The next reply; 421 at any point ends the session (RFC 5321 §3.8)."""
        async with _guard(f"waiting for the reply to {what}", seconds):
            reply = await self._read_reply()
        if reply.code == 421:
            raise _Drop(f"421 after {what}: {reply.text}", reply.as_reply())
        return reply

    async def _read_reply(self) -> ServerReply:
        for _ in range(1_000_000):  # bounded: each turn consumes input or reads more
            event = self.conn.next_event()
            if isinstance(event, ServerReply):
                return event
            if isinstance(event, ConnectionClosed):
                raise ConnectionResetError("connection closed by the server")
            self.conn.receive_data(await self.reader.read(READ_SIZE))
        raise ReplyError("no reply")

    async def command(self, data: bytes, seconds: float, what: str) -> ServerReply:
        await self.send(data, seconds, what)
        return await self.reply(seconds, what)

    async def start_tls(self, tls: TlsRequirement, hostname: str, seconds: float) -> None:
        context = tls.ssl_context or _default_context(tls.mode)
        async with asyncio.timeout(seconds):
            await self.writer.start_tls(
                context, server_hostname=hostname, ssl_handshake_timeout=seconds
            )
        self.conn.tls_started()

    def tls_description(self) -> str | None:
        obj = self.writer.get_extra_info("ssl_object")
        if obj is None:
            return None
        cipher = obj.cipher()
        return f"{obj.version() or 'TLS'} {cipher[0] if cipher else 'unknown'}"

    async def close(self, seconds: float) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(seconds):
                await self.writer.wait_closed()


def _default_context(mode: str) -> ssl.SSLContext:
    """Used only when the caller passed none: verifying for "verify", else any certificate."""
    context = ssl.create_default_context()
    if mode != "verify":
        # RFC 3207 §4.1 / opportunistic TLS: an unverified encrypted channel beats plaintext.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# OpenSSL X509_V_ERR_* codes grouped into TLS-RPT result types.
_HOST_MISMATCH = frozenset({62, 64})  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH
_EXPIRED = frozenset({10})  # CERT_HAS_EXPIRED
_NOT_TRUSTED = frozenset({2, 18, 19, 20, 21, 27})  # unknown issuer, self-signed, untrusted


def tls_failure_type(exc: BaseException) -> str:
    """Name a failed handshake the way TLS reports do, for the caller's TLS-RPT."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code in _HOST_MISMATCH:
            return "certificate-host-mismatch"
        if code in _EXPIRED:
            return "certificate-expired"
        if code in _NOT_TRUSTED:
            return "certificate-not-trusted"
    return "validation-failure"


@dataclass(frozen=True, slots=True)
class _Settings:
    endpoint: Endpoint
    helo_name: str
    tls: TlsRequirement
    auth: SmtpAuth | None
    timeouts: Timeouts
    chunking: bool


class _Session:
    """The steps of one delivery session, in the order RFC 5321 §3 gives them."""

    def __init__(self, settings: _Settings) -> None:
        self.s = settings
        self.t = settings.timeouts
        self.wire: _Wire | None = None
        self.ext = Extensions()
        self.tls: str | None = None
        self.tls_failure: str | None = None
        self._dirty = False  # a MAIL was sent since the last RSET: RSET before the next one

    @property
    def w(self) -> _Wire:
        assert self.wire is not None
        return self.wire

    # --- opening ----------------------------------------------------------------------------

    async def open(self) -> None:
        await self._connect()
        if self.s.tls.mode != "none":
            await self._starttls()
        if self.s.auth is not None:
            await self._authenticate(self.s.auth)

    async def _connect(self) -> None:
        self.wire = await _Wire.open(self.s.endpoint, self.t.connect)
        greeting = await self.w.reply(self.t.initial, "the greeting")
        if not greeting.positive:
            reason = f"greeting refused: {greeting.code} {greeting.text}"
            raise _Drop(reason, greeting.as_reply(), in_sync=True)
        await self._ehlo()

    async def _ehlo(self) -> None:
        reply = await self.w.command(self.w.conn.ehlo(self.s.helo_name), self.t.mail, "EHLO")
        if reply.code >= 500:
            # RFC 5321 §4.1.1.1 / §3.2: a server that does not know EHLO gets HELO instead.
            reply = await self.w.command(self.w.conn.helo(self.s.helo_name), self.t.mail, "HELO")
        if not reply.positive:
            reason = f"{reply.command} refused: {reply.code} {reply.text}"
            raise _Drop(reason, reply.as_reply(), in_sync=True)
        self.ext = read_ehlo(reply)

    async def _starttls(self) -> None:
        required = self.s.tls.mode in ("encrypt", "verify")
        if not self.ext.starttls:
            self._tls_unavailable("starttls-not-supported", "STARTTLS not offered", required)
            return
        reply = await self.w.command(self.w.conn.starttls(), self.t.mail, "STARTTLS")
        if reply.code != 220:
            # RFC 3207 §4: after a refusal the session continues in plaintext.
            why = f"STARTTLS refused: {reply.code} {reply.text}"
            self._tls_unavailable("starttls-not-supported", why, required)
            return
        hostname = self.s.tls.server_hostname or self.s.endpoint.host
        try:
            await self.w.start_tls(self.s.tls, hostname, self.t.tls_handshake)
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            await self._handshake_failed(exc, required)
            return
        self.tls = self.w.tls_description()
        await self._ehlo()  # RFC 3207 §4.2: forget what was learnt before TLS

    def _tls_unavailable(self, failure: str, why: str, required: bool) -> None:
        self.tls_failure = failure
        if required:
            raise _Drop(why, _with_reason(C454_TLS_FAILED, why), in_sync=True)

    async def _handshake_failed(self, exc: BaseException, required: bool) -> None:
        self.tls_failure = tls_failure_type(exc)
        await self.w.close(self.t.quit)
        why = f"TLS handshake failed ({self.tls_failure}): {exc}"
        if required:
            raise _Drop(why, _with_reason(C454_TLS_FAILED, self.tls_failure))
        # RFC 3207 §4.1: opportunistic TLS falls back to plaintext; the failed handshake left
        # the stream unusable, so start again on a new connection and do not offer TLS again.
        log_event(log, "tls fallback", logging.INFO, host=self.s.endpoint.host, reason=why)
        await self._connect()

    async def _authenticate(self, auth: SmtpAuth) -> None:
        if self.tls is None and self.s.tls.mode != "none":
            why = "not sending credentials without TLS"
            raise _Drop(why, _with_reason(C454_AUTH_UNAVAILABLE, why), in_sync=True)
        if "PLAIN" in self.ext.auth:
            data = self.w.conn.auth_plain(auth.username, auth.password)
            reply = await self.w.command(data, self.t.mail, "AUTH PLAIN")
        elif "LOGIN" in self.ext.auth:
            reply = await self._auth_login(auth)
        else:
            why = "no supported AUTH mechanism (PLAIN, LOGIN) offered"
            raise _Drop(why, _with_reason(C454_AUTH_UNAVAILABLE, why), in_sync=True)
        if reply.code != 235:
            why = f"{reply.code} {reply.text}"
            raise _Drop(f"AUTH failed: {why}", _with_reason(C454_AUTH_FAILED, why), in_sync=True)

    async def _auth_login(self, auth: SmtpAuth) -> ServerReply:
        """AUTH LOGIN: the server prompts (334) for the user name, then the password."""
        reply = await self.w.command(self.w.conn.auth_login(), self.t.mail, "AUTH LOGIN")
        for answer in (auth.username, auth.password):
            if reply.code != 334:
                return reply
            data = self.w.conn.auth_response(answer.encode("utf-8"))
            reply = await self.w.command(data, self.t.mail, "AUTH LOGIN")
        return reply

    # --- transactions -----------------------------------------------------------------------

    async def transaction(self, outcome: _Outcome) -> None:
        msg = outcome.message
        if not msg.recipients:
            return
        prepared = prepare(
            msg.content,
            sender=msg.sender,
            recipients=tuple(r.address for r in msg.recipients),
            body_type=msg.body_type,
            smtputf8=msg.smtputf8,
            server=self.ext,
        )
        if isinstance(prepared, Refused):
            outcome.fail_rest(prepared.reply)
            return
        await self._reset_if_dirty()
        self._dirty = True
        body = received_form(prepared.content)
        accepted = await self._envelope(msg, prepared, len(body), outcome)
        if not accepted:
            await self._reset_if_dirty()  # RFC 5321 §3.3: no recipient, so no data
            return
        final = await (self._bdat(body) if self._use_bdat() else self._data(body))
        # RFC 5321 §4.1.1.4: one reply to the data applies to every accepted recipient, and
        # whatever it says, the transaction is over: the next MAIL needs no RSET first.
        outcome.set_all(accepted, final)
        self._dirty = False

    def _use_bdat(self) -> bool:
        return self.s.chunking and self.ext.chunking

    async def _reset_if_dirty(self) -> None:
        if not self._dirty:
            return
        reply = await self.w.command(self.w.conn.rset(), self.t.mail, "RSET")
        if not reply.positive:
            raise _Drop(
                f"RSET refused: {reply.code} {reply.text}",
                _with_reason(C451_PROTOCOL_ERROR, "RSET refused"),
            )
        self._dirty = False

    def _mail_params(
        self, msg: OutboundMessage, prepared: Prepared, size: int
    ) -> dict[str, str | None]:
        params: dict[str, str | None] = {}
        if self.ext.size is not None:
            params["SIZE"] = str(size)  # RFC 1870 §3: lets the server refuse before the data
        if prepared.body_type == "8BITMIME" and self.ext.eightbitmime:
            params["BODY"] = "8BITMIME"  # RFC 6152 §2
        if prepared.smtputf8:
            params["SMTPUTF8"] = None  # RFC 6531 §3.4
        if self.ext.dsn:  # RFC 3461 §4: only to a server that offers DSN
            if msg.ret:
                params["RET"] = msg.ret
            if msg.envid:
                params["ENVID"] = xtext_encode(msg.envid)
        return params

    def _rcpt_params(self, rcpt: OutboundRecipient) -> dict[str, str | None]:
        params: dict[str, str | None] = {}
        if not self.ext.dsn:
            return params
        if rcpt.notify:
            params["NOTIFY"] = rcpt.notify
        if rcpt.orcpt:
            addr_type, semi, address = rcpt.orcpt.partition(";")
            if not semi:
                addr_type, address = "rfc822", rcpt.orcpt
            params["ORCPT"] = f"{addr_type};{xtext_encode(address)}"  # RFC 3461 §4.2
        return params

    async def _envelope(
        self, msg: OutboundMessage, prepared: Prepared, size: int, outcome: _Outcome
    ) -> list[str]:
        """MAIL and the RCPTs; returns the accepted addresses, records the refused ones."""
        conn, params = self.w.conn, self._mail_params(msg, prepared, size)
        if self.ext.pipelining:
            # RFC 2920 §3.1: MAIL and RCPT may go in one write; replies come back in order.
            batch = conn.mail(msg.sender, params)
            batch += b"".join(conn.rcpt(r.address, self._rcpt_params(r)) for r in msg.recipients)
            await self.w.send(batch, self.t.mail, "MAIL/RCPT")
            mail = await self.w.reply(self.t.mail, "MAIL")
            rcpts = [await self.w.reply(self.t.rcpt, "RCPT") for _ in msg.recipients]
        else:
            mail = await self.w.command(conn.mail(msg.sender, params), self.t.mail, "MAIL")
            rcpts = [await self._rcpt(r) for r in msg.recipients] if mail.positive else []
        if not mail.positive:
            outcome.fail_rest(mail.as_reply())
            return []
        accepted = []
        for rcpt, reply in zip(msg.recipients, rcpts, strict=True):
            if reply.positive:
                accepted.append(rcpt.address)
            else:
                outcome.set(rcpt.address, reply.as_reply())
        return accepted

    async def _rcpt(self, rcpt: OutboundRecipient) -> ServerReply:
        data = self.w.conn.rcpt(rcpt.address, self._rcpt_params(rcpt))
        return await self.w.command(data, self.t.rcpt, "RCPT")

    async def _data(self, body: bytes) -> Reply:
        reply = await self.w.command(self.w.conn.data(), self.t.data_init, "DATA")
        if reply.code != 354:
            return self._not_sent(reply)
        payload = self.w.conn.message(body)
        for start in range(0, len(payload), WRITE_BLOCK):
            await self.w.send(payload[start : start + WRITE_BLOCK], self.t.data_block, "data")
        final = await self.w.reply(self.t.data_done, "end of data")
        return final.as_reply()

    async def _bdat(self, body: bytes) -> Reply:
        """RFC 3030 §2: the body in chunks; a failed chunk ends the transaction."""
        chunks = [body[i : i + BDAT_CHUNK] for i in range(0, len(body), BDAT_CHUNK)] or [b""]
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            await self.w.send(self.w.conn.bdat(chunk, last=last), self.t.data_block, "BDAT")
            reply = await self.w.reply(self.t.data_done if last else self.t.data_block, "BDAT")
            if last:
                return reply.as_reply()
            if not reply.positive:
                return self._not_sent(reply)
        raise AssertionError("unreachable")

    @staticmethod
    def _not_sent(reply: ServerReply) -> Reply:
        """A refusal before the whole body was sent; a positive code here would be a lie."""
        if reply.positive:
            why = f"unexpected {reply.code} to {reply.command}"
            raise _Drop(why, _with_reason(C451_PROTOCOL_ERROR, why))
        return reply.as_reply()

    # --- closing ----------------------------------------------------------------------------

    async def quit(self) -> None:
        """QUIT politely; its answer changes nothing (RFC 5321 §4.1.1.10)."""
        if self.wire is None:
            return
        with contextlib.suppress(_Drop, OSError, LocalProtocolError):
            await self.w.command(self.w.conn.quit(), self.t.quit, "QUIT")

    async def close(self) -> None:
        if self.wire is not None:
            await self.wire.close(self.t.quit)


async def deliver(
    endpoint: Endpoint,
    messages: Sequence[OutboundMessage],
    *,
    helo_name: str,
    tls: TlsRequirement,
    auth: SmtpAuth | None = None,
    timeouts: Timeouts = Timeouts(),
    chunking: bool = False,
) -> SessionReport:
    """Deliver `messages` over one connection to `endpoint`; never raises for network trouble."""
    session = _Session(_Settings(endpoint, helo_name, tls, auth, timeouts, chunking))
    outcomes = [_Outcome(m) for m in messages]
    error: str | None = None
    try:
        await _run(session, outcomes)
    except _Drop as drop:
        error = drop.reason
        for outcome in outcomes:
            outcome.fail_rest(drop.reply)
        if drop.in_sync:
            await session.quit()
    finally:
        await session.close()
    report = SessionReport(
        endpoint, session.tls, session.tls_failure, tuple(o.result() for o in outcomes), error
    )
    _log_report(report)
    return report


async def _run(session: _Session, outcomes: list[_Outcome]) -> None:
    await session.open()
    for outcome in outcomes:
        await session.transaction(outcome)
    await session.quit()


def _log_report(report: SessionReport) -> None:
    counts = {"delivered": 0, "deferred": 0, "bounced": 0}
    for message in report.results:
        for rcpt in message.recipients:
            counts[rcpt.status] += 1
    log_event(
        log,
        "smtp session",
        host=report.endpoint.host,
        ip=report.endpoint.ip,
        tls=report.tls,
        tls_failure=report.tls_failure,
        error=report.error,
        **counts,
    )
