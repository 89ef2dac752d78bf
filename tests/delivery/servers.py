"""Small scripted SMTP servers on 127.0.0.1 for outbound-delivery tests (reusable elsewhere).

Each server is Roost's own sans-I/O `ServerConnection` behind a few lines of asyncio, with a
`Script` saying how it misbehaves. The named factories at the bottom are the receiving servers
the outbound-delivery issue lists: accepts all, 4xx then 250, rejects some recipients, drops
mid-DATA, 421 throttling, no STARTTLS, self-signed STARTTLS, no 8BITMIME, no PIPELINING, small
SIZE. Use them as `async with TestSmtpServer(accepts_all()) as srv: ... srv.port ...`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType

from roost.smtp import reply as r
from roost.smtp.events import (
    NEED_DATA,
    Auth,
    Bdat,
    ChunkEnd,
    CommandError,
    ConnectionClosed,
    Data,
    DataEnd,
    Ehlo,
    Event,
    MailFrom,
    MessageData,
    Quit,
    RcptTo,
    Rset,
    StartTls,
)
from roost.smtp.server import ServerConnection, ServerOptions
from roost.tlsutil import make_self_signed

ALL_KEYWORDS = (
    "PIPELINING",
    "SIZE 10485760",
    "8BITMIME",
    "SMTPUTF8",
    "ENHANCEDSTATUSCODES",
    "CHUNKING",
    "DSN",
)
C502_NO_EHLO = r.Reply(502, "5.5.1", "EHLO not implemented")
C451_TRY_LATER = r.Reply(451, "4.3.0", "Try again later")
C421_THROTTLED = r.Reply(421, "4.7.0", "Too many messages, slow down")
C220_TEST = r.Reply(220, "", "test.example ESMTP test server")


@dataclass(frozen=True)
class Script:
    """How a test server behaves; the defaults accept everything."""

    keywords: tuple[str, ...] = ALL_KEYWORDS  # STARTTLS/AUTH are added from tls/auth
    greeting: r.Reply = C220_TEST
    tls: ssl.SSLContext | None = None  # offer STARTTLS with this server context
    ehlo_refused: bool = False  # 502 to EHLO, so the client must fall back to HELO
    reject: frozenset[str] = frozenset()  # RCPT addresses answered 550 5.1.1
    temp_fail_first: int = 0  # the first N ends of data get 451
    drop_mid_data: bool = False  # close the socket once message bytes arrive
    throttle_after: int | None = None  # 421 to MAIL after N messages on one connection
    auth: tuple[str, str] | None = None  # offer AUTH PLAIN and require it for MAIL

    @property
    def size_limit(self) -> int:
        for word in self.keywords:
            if word.upper().startswith("SIZE "):
                return int(word.split()[1])
        return 0


@dataclass
class Received:
    """One message the server accepted (250 after the data)."""

    sender: str
    mail_params: dict[str, str | None]
    recipients: list[str]
    rcpt_params: list[dict[str, str | None]]
    data: bytes
    tls: bool
    authenticated: bool
    peer: str = ""  # the client's IP address, as the server saw it


@dataclass
class _Txn:
    sender: str = ""
    mail_params: dict[str, str | None] = field(default_factory=dict)
    recipients: list[str] = field(default_factory=list)
    rcpt_params: list[dict[str, str | None]] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)


class _Drop(Exception):
    """The script says: cut the connection now."""


class TestSmtpServer:
    """An asyncio SMTP server on 127.0.0.1:<ephemeral> following a Script."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, script: Script | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.script = script or Script()
        self.host, self._port = host, port
        self.messages: list[Received] = []
        self.connections = 0
        self.commands: list[str] = []  # event class names, in arrival order
        self.pipelined = False  # a command arrived with more input already buffered
        self._temp_left = self.script.temp_fail_first
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> TestSmtpServer:
        self._server = await asyncio.start_server(self._handle, self.host, self._port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        session = _Session(self, reader, writer)
        try:
            await session.run()
        except (_Drop, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class _Session:
    """One connection of a TestSmtpServer."""

    def __init__(
        self, server: TestSmtpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.script = server.script
        self.reader = reader
        self.writer = writer
        chunking = "CHUNKING" in self.script.keywords
        self.conn = ServerConnection(ServerOptions(chunking=chunking))
        self.txn = _Txn()
        self.accepted = 0
        self.authenticated = False

    async def run(self) -> None:
        self.writer.write(self.conn.send(self.script.greeting))
        while not self.conn.wants_close:
            event = self.conn.next_event()
            if event is NEED_DATA:
                await self.writer.drain()
                self.conn.receive_data(await self.reader.read(65536))
                continue
            if isinstance(event, ConnectionClosed):
                break
            await self._event(event)  # type: ignore[arg-type]
        await self.writer.drain()

    async def _event(self, event: Event) -> None:
        if isinstance(event, MessageData):
            if self.script.drop_mid_data:
                self.writer.transport.abort()
                raise _Drop
            self.txn.data += event.data
            return
        self.server.commands.append(type(event).__name__)
        if isinstance(event, Bdat):
            return  # RFC 3030 §2: answered after its ChunkEnd
        if self.conn.pending_input and not isinstance(event, DataEnd | ChunkEnd):
            self.server.pipelined = True
        self.writer.write(self.conn.send(self._answer(event)))
        if isinstance(event, StartTls) and self.script.tls is not None:
            await self.writer.drain()
            await self.writer.start_tls(self.script.tls)
            self.conn.tls_started()

    def _answer(self, event: Event) -> r.Reply:
        if isinstance(event, CommandError):
            return event.reply
        if isinstance(event, Ehlo):
            return self._ehlo(event)
        if isinstance(event, StartTls):
            return r.C220_TLS_GO if self.script.tls else r.C502_NOT_IMPLEMENTED
        if isinstance(event, Auth):
            return self._auth(event)
        if isinstance(event, MailFrom):
            return self._mail(event)
        if isinstance(event, RcptTo):
            return self._rcpt(event)
        if isinstance(event, Data):
            return r.C354_START_DATA
        if isinstance(event, DataEnd) or (isinstance(event, ChunkEnd) and event.last):
            return self._end_of_data()
        if isinstance(event, Rset):
            self.txn = _Txn()
            return r.C250_RESET
        if isinstance(event, Quit):
            return r.C221_BYE
        return r.C250_OK

    def _ehlo(self, event: Ehlo) -> r.Reply:
        self.txn = _Txn()
        if not event.extended:
            return r.C250_HELO.with_text("test.example")
        if self.script.ehlo_refused:
            return C502_NO_EHLO
        lines = ["test.example hello", *self.script.keywords]
        if self.script.tls is not None and not self.conn.tls_active:
            lines.append("STARTTLS")
        if self.script.auth is not None:
            lines.append("AUTH PLAIN")
        return r.Reply(250, "", "\n".join(lines))

    def _auth(self, event: Auth) -> r.Reply:
        user, password = self.script.auth or ("", "")
        expected = f"\0{user}\0{password}".encode()
        if event.mechanism == "PLAIN" and event.initial_response == expected:
            self.authenticated = True
            return r.C235_AUTH_OK
        return r.C535_AUTH_FAILED

    def _mail(self, event: MailFrom) -> r.Reply:
        throttle = self.script.throttle_after
        if throttle is not None and self.accepted >= throttle:
            return C421_THROTTLED
        if self.script.auth is not None and not self.authenticated:
            return r.C530_AUTH_REQUIRED
        size = event.params.get("SIZE")
        if self.script.size_limit and size is not None and int(size) > self.script.size_limit:
            return r.C552_TOO_BIG
        self.txn = _Txn(event.reverse_path, dict(event.params))
        return r.C250_SENDER_OK

    def _rcpt(self, event: RcptTo) -> r.Reply:
        if event.forward_path in self.script.reject:
            return r.C550_NO_SUCH_USER
        self.txn.recipients.append(event.forward_path)
        self.txn.rcpt_params.append(dict(event.params))
        return r.C250_RCPT_OK

    def _end_of_data(self) -> r.Reply:
        txn, self.txn = self.txn, _Txn()
        if self.server._temp_left > 0:
            self.server._temp_left -= 1
            return C451_TRY_LATER
        self.accepted += 1
        self.server.messages.append(
            Received(
                txn.sender,
                txn.mail_params,
                txn.recipients,
                txn.rcpt_params,
                bytes(txn.data),
                self.conn.tls_active,
                self.authenticated,
                str((self.writer.get_extra_info("peername") or ("",))[0]),
            )
        )
        return r.C250_QUEUED


def tls_pair(hostname: str = "mx.test.example") -> tuple[ssl.SSLContext, bytes]:
    """A server context with a fresh self-signed certificate, and that certificate's PEM."""
    pair = make_self_signed(hostname)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert.write_bytes(pair.cert_pem)
        key.write_bytes(pair.key_pem)
        context.load_cert_chain(cert, key)
    return context, pair.cert_pem


def server_tls_context(hostname: str = "mx.test.example") -> ssl.SSLContext:
    """A server context whose self-signed certificate no default client context verifies."""
    return tls_pair(hostname)[0]


def plain_credentials(user: str, password: str) -> str:
    """The base64 AUTH PLAIN initial response, for assertions."""
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


# --- the receiving servers the outbound-delivery issue names -----------------------------------


def accepts_all() -> Script:
    return Script()


def temp_fail_then_accept(times: int = 1) -> Script:
    """451 to the end of data for the first `times` messages, then 250."""
    return Script(temp_fail_first=times)


def rejects_some(*addresses: str) -> Script:
    return Script(reject=frozenset(addresses))


def drops_mid_data() -> Script:
    return Script(drop_mid_data=True)


def throttles_421(after: int = 1) -> Script:
    return Script(throttle_after=after)


def no_starttls() -> Script:
    return Script()


def self_signed_starttls(context: ssl.SSLContext | None = None) -> Script:
    return Script(tls=context or server_tls_context())


def no_8bitmime() -> Script:
    return Script(keywords=tuple(k for k in ALL_KEYWORDS if k not in ("8BITMIME", "SMTPUTF8")))


def no_pipelining() -> Script:
    return Script(keywords=tuple(k for k in ALL_KEYWORDS if k != "PIPELINING"))


def small_size(limit: int = 1000) -> Script:
    keywords = tuple(f"SIZE {limit}" if k.startswith("SIZE") else k for k in ALL_KEYWORDS)
    return replace(Script(), keywords=keywords)
