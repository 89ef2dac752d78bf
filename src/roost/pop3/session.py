"""POP3 policy and maildrop: what Roost answers to each event of the sans-I/O connection.

The maildrop is the user's INBOX as it was at login: message numbers, sizes and UIDs stay
fixed for the session (RFC 1939 §5); mail arriving meanwhile shows up at the next login. DELE
only marks; QUIT in TRANSACTION enters the UPDATE state, which expunges the marked messages in
one store transaction and deletes blobs nobody references any more. A dropped connection
deletes nothing.

Exclusive access (RFC 1939 §8: the server should lock the maildrop) is an in-process lock per
user held by the listener's `MaildropLocks`; a second session gets "-ERR [IN-USE]" (RFC 2449
§8.1.1). Several nodes sharing one database do not see each other's locks: that needs a shared
lock and belongs to the cluster issue.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from roost.accounts.authservice import AuthService
from roost.obs.log import log_event
from roost.pop3 import events as ev
from roost.pop3.events import Response, err, ok
from roost.pop3.server import Pop3Connection, State
from roost.queue.ids import new_session_id
from roost.smtp import sasl
from roost.store.aio import AsyncStore
from roost.store.interface import BlobStore, Store
from roost.store.types import Directory, StoredMessage

log = logging.getLogger("roost.pop3")

INBOX = "INBOX"
Answer = Response | Coroutine[Any, Any, Response]

ERR_NO_MESSAGE = err("No such message")
ERR_DELETED = err("Message already deleted")
ERR_AUTH_FAILED = err("Invalid credentials", "AUTH")  # RFC 3206 §4
# Too many failed logins from this address or to this account: refused without checking the
# password. RFC 3206 §4 [SYS/TEMP] ("temporary system problem, try later"), not §5 [AUTH]: the
# credentials were not judged (they may well be right), and [AUTH] tells clients to ask the user
# for a new password, while waiting is what helps.
ERR_AUTH_BLOCKED = err("Too many failed logins, try again later", "SYS/TEMP")
ERR_IN_USE = err("Maildrop already locked by another session", "IN-USE")  # RFC 2449 §8.1.1
ERR_TEMP = err("Temporary server error, try again later", "SYS/TEMP")  # RFC 3206 §4
ERR_TOO_MANY_ERRORS = err("Too many errors, closing connection")
ERR_MECHANISM = err("Unsupported SASL mechanism")
ERR_AUTH_CANCELLED = err("AUTH cancelled")
ERR_NO_TLS = err("TLS is not available")


class MaildropLocks:
    """Which users have a POP3 session holding their maildrop (this process only)."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    def acquire(self, user: str) -> bool:
        if user in self._held:
            return False
        self._held.add(user)
        return True

    def release(self, user: str) -> None:
        self._held.discard(user)

    def held(self, user: str) -> bool:
        return user in self._held


@dataclass(frozen=True, slots=True)
class Pop3Context:
    """What every POP3 session of a server shares."""

    hostname: str
    directory: Callable[[], Directory]
    runner: AsyncStore  # store calls run on its thread
    store: Store
    blobs: BlobStore
    auth: AuthService  # every password check, with brute-force protection
    locks: MaildropLocks = field(default_factory=MaildropLocks)
    tls_available: bool = True
    max_errors: int = 10
    error_delay_after: int = 3
    error_delay: float = 1.0


@dataclass(slots=True)
class Maildrop:
    """The INBOX snapshot taken at login; message n is messages[n - 1]."""

    user: str
    uidvalidity: int
    messages: list[StoredMessage]
    deleted: set[int] = field(default_factory=set)  # message numbers marked by DELE

    def live(self) -> list[tuple[int, StoredMessage]]:
        return [(n, m) for n, m in enumerate(self.messages, 1) if n not in self.deleted]

    def get(self, n: int) -> StoredMessage | None:
        """Message `n` unless it does not exist or is marked deleted."""
        if n < 1 or n > len(self.messages) or n in self.deleted:
            return None
        return self.messages[n - 1]

    def uidl(self, msg: StoredMessage) -> str:
        # RFC 1939 §7: unique per maildrop and stable across sessions; UIDs alone are only
        # unique within one UIDVALIDITY, so both go in.
        return f"{self.uidvalidity}.{msg.uid}"

    def totals(self) -> tuple[int, int]:
        live = self.live()
        return len(live), sum(m.size for _, m in live)


def top(content: bytes, lines: int) -> bytes:
    """RFC 1939 §7 TOP: the header section, the empty line, then `lines` body lines."""
    sep = content.find(b"\r\n\r\n")
    if sep < 0:
        return content
    head, body = content[: sep + 4], content[sep + 4 :]
    end = 0
    for _ in range(lines):
        nxt = body.find(b"\r\n", end)
        if nxt < 0:
            return head + body  # fewer lines than asked: the whole body
        end = nxt + 2
    return head + body[:end]


class Pop3Session:
    """One POP3 connection's policy: logins, the maildrop, UPDATE."""

    def __init__(self, context: Pop3Context, conn: Pop3Connection, client_ip: str) -> None:
        self._ctx = context
        self._conn = conn
        self._ip = client_ip
        self.session_id = new_session_id()
        self.errors = 0
        self.close_requested = False
        self.start_tls_requested = False
        self._username: str | None = None  # from USER, for PASS
        self._sasl: sasl.Exchange | None = None
        self.maildrop: Maildrop | None = None
        self.retrieved = 0
        self.expunged = 0

    def greeting(self) -> Response:
        return ok(f"{self._ctx.hostname} Roost POP3 server ready")

    def penalty(self) -> float:
        """Seconds to hold a negative answer (tarpit) once errors pass the threshold."""
        over = self.errors - self._ctx.error_delay_after
        return min(over * self._ctx.error_delay, 30.0) if over > 0 else 0.0

    def close(self) -> None:
        """The connection is gone (QUIT answered, EOF, timeout): release the maildrop."""
        if self.maildrop is not None:
            self._ctx.locks.release(self.maildrop.user)
            self.maildrop = None

    # --- dispatch ---------------------------------------------------------------------------
    def handle(self, event: ev.Event) -> Answer | None:
        match event:
            case ev.CommandError(response):
                return self._error(response)
            case ev.ConnectionClosed():
                self.close()
                return None
            case ev.Capa():
                return ok("Capability list follows", self._capabilities())
            case ev.Stls():
                if not self._ctx.tls_available:
                    return self._error(ERR_NO_TLS)
                self.start_tls_requested = True
                return ok("Begin TLS negotiation")
            case ev.User(name):
                self._username = name
                return ok("Send PASS")
            case ev.Pass(password):
                name, self._username = self._username or "", None
                return self._login(name, password)
            case ev.Auth(mechanism, initial):
                if mechanism != "PLAIN":
                    return self._error(ERR_MECHANISM)
                return self._sasl_step(sasl.start(mechanism, initial))
            case ev.AuthResponse(data, cancelled):
                exchange, self._sasl = self._sasl, None
                if cancelled or exchange is None:
                    return self._error(ERR_AUTH_CANCELLED)
                return self._sasl_step(exchange.step(data))
            case ev.Quit():
                if self.maildrop is None:
                    return ok("Roost POP3 server signing off")
                return self._update()
        return self._transaction(event)

    def _error(self, response: Response) -> Response:
        self.errors += 1
        if self.errors >= self._ctx.max_errors:
            self.close_requested = True
            return ERR_TOO_MANY_ERRORS
        return response

    def _capabilities(self) -> bytes:
        caps = ["TOP", "UIDL"]
        if self._conn.state is State.AUTHORIZATION and self._conn.login_allowed:
            caps += ["USER", "SASL PLAIN"]  # RFC 2595 §2.1: no plaintext login offered
        authorization = self._conn.state is State.AUTHORIZATION
        if authorization and not self._conn.tls_active and self._ctx.tls_available:
            caps.append("STLS")
        caps += ["RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Roost"]
        return "".join(c + "\r\n" for c in caps).encode("ascii")

    # --- authorization ----------------------------------------------------------------------
    def _sasl_step(self, step: sasl.Step) -> Answer:
        match step:
            case sasl.Challenge(exchange, challenge):
                self._sasl = exchange
                return ev.continuation(base64.b64encode(challenge).decode("ascii"))
            case sasl.Credentials(authzid, username, password):
                return self._login(username, password, authzid)
            case sasl.SaslFailure(reply):
                return self._error(err(reply.text or "Malformed SASL response"))
        raise AssertionError(step)

    async def _login(self, name: str, password: str, authzid: str = "") -> Response:
        result = await self._ctx.auth.verify(
            name, password, client_ip=self._ip, protocol="pop3", authzid=authzid,
            session=self.session_id,
        )  # fmt: skip
        if result.blocked:
            return self._error(ERR_AUTH_BLOCKED)
        if not result.ok:
            return self._error(ERR_AUTH_FAILED)
        username = result.user
        if not self._ctx.locks.acquire(username):
            log_event(log, "maildrop in use", session=self.session_id, user=username)
            return err("Maildrop already locked by another session", "IN-USE")
        try:
            box = await self._ctx.runner.run(self._ctx.store.get_mailbox, username, INBOX)
            messages = await self._ctx.runner.run(self._ctx.store.list_messages, username, INBOX)
        except Exception as exc:
            self._ctx.locks.release(username)
            log_event(log, "maildrop load failed", logging.ERROR, session=self.session_id,
                      user=username, error=repr(exc))  # fmt: skip
            return ERR_TEMP
        if box is None:
            self._ctx.locks.release(username)
            return ERR_TEMP
        self.maildrop = Maildrop(username, box.uidvalidity, messages)
        count, size = self.maildrop.totals()
        log_event(log, "login", session=self.session_id, user=username, messages=count)
        return ok(f"Logged in, {count} messages ({size} octets)")

    # --- transaction ------------------------------------------------------------------------
    def _transaction(self, event: ev.Event) -> Answer:
        drop = self.maildrop
        assert drop is not None, "the connection refuses these commands before login"
        match event:
            case ev.Stat():
                count, size = drop.totals()
                return ok(f"{count} {size}")
            case ev.List(None):
                count, size = drop.totals()
                body = "".join(f"{n} {m.size}\r\n" for n, m in drop.live())
                return ok(f"{count} messages ({size} octets)", body.encode("ascii"))
            case ev.List(int(n)):
                msg = drop.get(n)
                return ok(f"{n} {msg.size}") if msg else ERR_NO_MESSAGE
            case ev.Uidl(None):
                body = "".join(f"{n} {drop.uidl(m)}\r\n" for n, m in drop.live())
                return ok("Unique-ID listing follows", body.encode("ascii"))
            case ev.Uidl(int(n)):
                msg = drop.get(n)
                return ok(f"{n} {drop.uidl(msg)}") if msg else ERR_NO_MESSAGE
            case ev.Retr(n):
                msg = drop.get(n)
                return self._retrieve(msg, None) if msg else ERR_NO_MESSAGE
            case ev.Top(n, lines):
                msg = drop.get(n)
                return self._retrieve(msg, lines) if msg else ERR_NO_MESSAGE
            case ev.Dele(n):
                if drop.get(n) is None:
                    return ERR_DELETED if n in drop.deleted else ERR_NO_MESSAGE
                drop.deleted.add(n)
                return ok(f"Message {n} deleted")
            case ev.Rset():
                drop.deleted.clear()
                count, size = drop.totals()
                return ok(f"Maildrop has {count} messages ({size} octets)")
            case ev.Noop():
                return ok()
        raise AssertionError(event)

    async def _retrieve(self, msg: StoredMessage, lines: int | None) -> Response:
        try:
            body = await asyncio.to_thread(self._ctx.blobs.get, msg.blob)
        except Exception as exc:
            log_event(log, "message read failed", logging.ERROR, session=self.session_id,
                      uid=msg.uid, error=repr(exc))  # fmt: skip
            return ERR_TEMP
        content = msg.prefix + body
        if lines is not None:
            return ok("Top of message follows", top(content, lines))
        self.retrieved += 1
        return ok(f"{len(content)} octets", content)

    async def _update(self) -> Response:
        """RFC 1939 §6: the UPDATE state, entered by QUIT from TRANSACTION."""
        drop = self.maildrop
        assert drop is not None
        uids = [drop.messages[n - 1].uid for n in sorted(drop.deleted)]
        try:
            if uids:
                store, runner = self._ctx.store, self._ctx.runner
                unused = await runner.run(store.expunge_messages, drop.user, INBOX, uids)
                self.expunged = len(uids)
                for ref in unused:
                    if not await runner.run(store.blob_in_use, ref):  # re-delivered meanwhile?
                        await runner.run(self._ctx.blobs.delete, ref)
        except Exception as exc:
            log_event(log, "update failed", logging.ERROR, session=self.session_id,
                      user=drop.user, error=repr(exc))  # fmt: skip
            self.close()
            return err("Some deleted messages not removed", "SYS/TEMP")
        count, _ = drop.totals()
        self.close()
        return ok(f"Roost POP3 server signing off ({count} messages left)")
