"""One IMAP connection's policy: what Roost answers to each parsed command (RFC 9051).

The sans-I/O `CommandReader` frames and parses; this class checks the state table, talks to
the store (always through `AsyncStore`, so the event loop never blocks) and writes responses
through `SessionIO`, which the asyncio adapter implements. Mailbox commands live in
`mailboxes.py`, selected-state commands in `messages.py`; both are mixed in here so one object
holds a connection's state.
"""

from __future__ import annotations

import logging

from roost.imap import commands as c
from roost.imap import responses as r
from roost.imap.core import ImapContext, Options, SessionIO
from roost.imap.hub import Watch
from roost.imap.mailboxes import MailboxCommands
from roost.imap.messages import MessageCommands
from roost.imap.states import State, allowed
from roost.imap.view import MailboxView
from roost.obs.log import log_event
from roost.queue.ids import new_session_id
from roost.smtp import sasl

log = logging.getLogger("roost.imap")

BASE_CAPABILITIES = ("IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE")
# RFC 9051 §6.1.1 "the server MUST NOT list capabilities it does not support": each of these is
# implemented in this package.
AUTHENTICATED_CAPABILITIES = (
    "IDLE",  # RFC 2177
    "NAMESPACE",  # RFC 2342
    "UNSELECT",  # RFC 3691
    "UIDPLUS",  # RFC 4315
    "MOVE",  # RFC 6851
    "CONDSTORE",  # RFC 7162
    "QRESYNC",
    "LIST-EXTENDED",  # RFC 5258
    "LIST-STATUS",  # RFC 5819
    "SPECIAL-USE",  # RFC 6154
    "CREATE-SPECIAL-USE",
    "CHILDREN",  # RFC 3348
    "ESEARCH",  # RFC 4731
    "SEARCHRES",  # RFC 5182
    "BINARY",  # RFC 3516
    "MULTIAPPEND",  # RFC 3502
    "QUOTA",  # RFC 9208
    "QUOTA=RES-STORAGE",
    "STATUS=SIZE",  # RFC 8438
)
ENABLEABLE = frozenset(["CONDSTORE", "QRESYNC", "IMAP4REV2"])


class ImapSession(MailboxCommands, MessageCommands):
    """See the module docstring."""

    def __init__(self, ctx: ImapContext, io: SessionIO, ip: str, *, tls: bool) -> None:
        self.ctx = ctx
        self.io = io
        self.ip = ip
        self.tls = tls
        self.session_id = new_session_id()
        self.state = State.NOT_AUTHENTICATED
        self.user = ""
        self.options = Options()
        self.view: MailboxView | None = None
        self.saved: frozenset[int] | None = None  # RFC 5182 SEARCH SAVE result (UIDs)
        self.idling: str | None = None  # the IDLE command's tag while idling
        self.changed = False  # the hub said this user's mail changed
        self.errors = 0
        self.close_requested = False
        self._watch: Watch | None = None
        self._sasl: sasl.Exchange | None = None
        self._sasl_tag = ""

    # --- greeting and capabilities -------------------------------------------------------
    def greeting(self) -> bytes:
        code = r.code_capability(self.capabilities())
        return r.untagged(r.Status.OK, f"{self.ctx.hostname} Roost IMAP ready", code)

    def _can_login(self) -> bool:
        return self.tls or self.ctx.allow_plaintext_auth

    def capabilities(self) -> list[str]:
        caps = list(BASE_CAPABILITIES)
        if self.state is State.NOT_AUTHENTICATED:
            if self.ctx.tls_available and not self.tls:
                caps.append("STARTTLS")
            if self._can_login():
                caps.append("AUTH=PLAIN")
            else:
                caps.append("LOGINDISABLED")  # RFC 9051 §6.2.3
        else:
            caps.extend(AUTHENTICATED_CAPABILITIES)
        return caps

    # --- dispatch --------------------------------------------------------------------------
    async def handle(self, cmd: c.Command) -> None:
        name = cmd.name
        if not allowed(self.state, name):
            self.bad(cmd.tag, f"{name} is not valid in the {self.state.value} state")
            return
        handler = getattr(self, "cmd_" + name.lower().replace("-", "_"), None)
        if handler is None:
            self.bad(cmd.tag, f"{name} is not supported")
            return
        try:
            await handler(cmd)
        except Exception as exc:
            log_event(log, "command failed", logging.ERROR, session=self.session_id,
                      user=self.user, command=name, error=repr(exc))  # fmt: skip
            self.no(cmd.tag, "Internal server error, try again later", r.code("SERVERBUG"))
            return
        if self.state is State.SELECTED and self.idling is None and name != "LOGOUT":
            # RFC 9051 §7.5.1: no EXPUNGE during FETCH, STORE and SEARCH (their UID forms may)
            uid_form = getattr(cmd, "uid", False)
            quiet = name in ("FETCH", "STORE", "SEARCH") and not uid_form
            await self.catch_up(expunges=not quiet)

    # --- any state ---------------------------------------------------------------------------
    async def cmd_capability(self, cmd: c.Simple) -> None:
        self.io.write(r.capability(self.capabilities()))
        self.ok(cmd.tag, "CAPABILITY completed")

    async def cmd_noop(self, cmd: c.Simple) -> None:
        if self.state is State.SELECTED:
            await self.catch_up(expunges=True)
        self.ok(cmd.tag, "NOOP completed")

    async def cmd_logout(self, cmd: c.Simple) -> None:
        self.io.write(r.untagged(r.Status.BYE, "Logging out"))
        self.ok(cmd.tag, "LOGOUT completed")
        self.state = State.LOGOUT
        self.close_requested = True

    async def cmd_id(self, cmd: c.Id) -> None:
        if cmd.params:
            fields = {k.lower(): v for k, v in cmd.params[:30]}
            name, version = fields.get("name") or "", fields.get("version") or ""
            log_event(log, "client id", session=self.session_id, name=name, version=version)
        self.io.write(r.id_response([("name", "Roost"), ("vendor", "Roost")]))
        self.ok(cmd.tag, "ID completed")

    # --- not authenticated -------------------------------------------------------------------
    async def cmd_starttls(self, cmd: c.Simple) -> None:
        if self.tls or not self.ctx.tls_available:
            self.bad(cmd.tag, "TLS is not available" if not self.tls else "TLS is already active")
            return
        self.ok(cmd.tag, "Begin TLS negotiation now")
        await self.io.start_tls()  # RFC 9051 §6.2.1: the adapter discards buffered input
        self.tls = True

    async def cmd_login(self, cmd: c.Login) -> None:
        if not self._can_login():
            self.no(cmd.tag, "Use STARTTLS before LOGIN", r.code("PRIVACYREQUIRED"))
            return
        await self._verify(cmd.tag, cmd.user, cmd.password)

    async def cmd_authenticate(self, cmd: c.Authenticate) -> None:
        if not self._can_login():
            self.no(cmd.tag, "Use STARTTLS before AUTHENTICATE", r.code("PRIVACYREQUIRED"))
            return
        if cmd.mechanism != "PLAIN":
            self.no(cmd.tag, "Unsupported authentication mechanism")
            return
        await self._sasl_step(cmd.tag, sasl.start(cmd.mechanism, cmd.initial))

    async def sasl_response(self, data: bytes | None) -> None:
        """The client's line during AUTHENTICATE; None is "*" (RFC 9051 §6.2.2: cancel)."""
        tag, exchange = self._sasl_tag, self._sasl
        self._sasl = None
        if exchange is None:
            self.bad(None, "Unexpected continuation")
            return
        if data is None:
            self.bad(tag, "AUTHENTICATE cancelled")
            return
        await self._sasl_step(tag, exchange.step(data))

    async def _sasl_step(self, tag: str, step: sasl.Step) -> None:
        match step:
            case sasl.Challenge(exchange, challenge):
                self._sasl, self._sasl_tag = exchange, tag
                self.io.write(r.challenge(challenge))
                self.io.expect_sasl()
            case sasl.Credentials(authzid, username, password):
                await self._verify(tag, username, password, authzid)
            case sasl.SaslFailure():
                self.bad(tag, "Malformed SASL response")

    async def _verify(self, tag: str, user: str, password: str, authzid: str = "") -> None:
        result = await self.ctx.auth.verify(
            user, password, client_ip=self.ip, protocol="imap", authzid=authzid,
            session=self.session_id,
        )  # fmt: skip
        if result.blocked:
            self.errors += 1
            self.no(tag, "Too many failed logins, try again later", r.code("UNAVAILABLE"))
            return
        if not result.ok:
            self.errors += 1
            self.no(tag, "Invalid credentials", r.code("AUTHENTICATIONFAILED"))
            if self.errors >= self.ctx.max_errors:
                self.io.write(r.untagged(r.Status.BYE, "Too many errors, closing connection"))
                self.close_requested = True
            return
        self.user = result.user
        self.state = State.AUTHENTICATED
        self._watch = self.ctx.hub.watch(self.user, self._on_change)
        log_event(log, "login", session=self.session_id, user=self.user, ip=self.ip)
        self.ok(tag, "Logged in", r.code_capability(self.capabilities()))

    # --- authenticated ------------------------------------------------------------------------
    async def cmd_enable(self, cmd: c.Enable) -> None:
        """RFC 5161: only what we support, once; QRESYNC implies CONDSTORE (RFC 7162 §3.2.3)."""
        newly = []
        for cap in cmd.capabilities:
            if cap not in ENABLEABLE or cap in self.options.enabled:
                continue
            self.options.enabled.add(cap)
            newly.append("IMAP4rev2" if cap == "IMAP4REV2" else cap)
            if cap == "QRESYNC":
                self.options.qresync = True
                self.options.condstore = True
            elif cap == "CONDSTORE":
                self.options.condstore = True
            elif cap == "IMAP4REV2":
                self.options.rev2 = True
        if newly:
            self.io.write(r.enabled(newly))
        self.ok(cmd.tag, "ENABLE completed")

    async def cmd_namespace(self, cmd: c.Simple) -> None:
        # RFC 2342: one personal namespace, no prefix, "/" as the delimiter.
        self.io.write(b'* NAMESPACE (("" "/")) NIL NIL\r\n')
        self.ok(cmd.tag, "NAMESPACE completed")

    async def cmd_idle(self, cmd: c.Simple) -> None:
        """RFC 2177: report what changed, then whenever the hub says so, until DONE."""
        self.idling = cmd.tag
        self.io.write(r.continuation("idling"))
        self.io.expect_done()
        if self.state is State.SELECTED:
            await self.catch_up(expunges=True)

    async def idle_done(self) -> None:
        tag, self.idling = self.idling, None
        if tag is None:
            self.bad(None, "DONE without IDLE")
            return
        self.ok(tag, "IDLE terminated")

    async def idle_update(self) -> None:
        """Called by the adapter after `io.wake()`: send what changed while idling."""
        if self.idling is not None and self.state is State.SELECTED and self.changed:
            await self.catch_up(expunges=True)

    def _on_change(self) -> None:
        self.changed = True
        if self.idling is not None:
            self.io.wake()

    # --- teardown --------------------------------------------------------------------------
    def close(self) -> None:
        if self._watch is not None:
            self.ctx.hub.unwatch(self._watch)
            self._watch = None
