"""POP3 policy transcripts: the session answering the sans-I/O connection, over a fake store."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from datetime import UTC, datetime

from roost.accounts.authservice import AuthService
from roost.config.model import AuthConfig
from roost.pop3.events import NEED_DATA, Response
from roost.pop3.server import Pop3Connection, Pop3Options, State
from roost.pop3.session import MaildropLocks, Pop3Context, Pop3Session, top
from roost.store.aio import AsyncStore
from roost.store.types import BlobRef, Directory, MailboxInfo, StoredMessage, User

PREFIX = b"X-Prefix: 1\r\n"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
ALICE = "alice@example.org"
BODIES = {
    "a" * 64: b"Subject: one\r\n\r\nline 1\r\n.dot\r\nline 3\r\n",
    "b" * 64: b"Subject: two\r\n\r\nbody\r\n",
}


class FakeStore:
    def __init__(self) -> None:
        items = list(BODIES.items())
        self.messages = [
            StoredMessage(
                ALICE,
                "INBOX",
                uid,
                BlobRef(d, len(b)),
                PREFIX,
                len(PREFIX) + len(b),
                T0,
                frozenset(),
                uid,
            )
            for uid, (d, b) in ((4, items[0]), (9, items[1]))
        ]
        self.expunged: list[int] = []

    def get_mailbox(self, user: str, name: str) -> MailboxInfo:
        return MailboxInfo(user, name, 777, 10, 9, len(self.messages), True)

    def list_messages(self, user: str, mailbox: str) -> list[StoredMessage]:
        return list(self.messages)

    def expunge_messages(self, user: str, mailbox: str, uids: Sequence[int]) -> list[BlobRef]:
        self.expunged += uids
        gone = [m.blob for m in self.messages if m.uid in uids]
        self.messages = [m for m in self.messages if m.uid not in uids]
        return gone

    def blob_in_use(self, ref: BlobRef) -> bool:
        return False


class FakeBlobs:
    def __init__(self) -> None:
        self.deleted: list[BlobRef] = []

    def get(self, ref: BlobRef) -> bytes:
        return BODIES[ref.digest]

    def delete(self, ref: BlobRef) -> None:
        self.deleted.append(ref)


def directory() -> Directory:
    user = User(ALICE, "hash", T0)
    return Directory(1, frozenset({"example.org"}), {ALICE: user}, {})


class Client:
    """Feeds lines, answers each event through the session (awaiting slow answers)."""

    def __init__(self, ctx: Pop3Context, options: Pop3Options | None = None) -> None:
        self.conn = Pop3Connection(options or Pop3Options(tls_active=True))
        self.session = Pop3Session(ctx, self.conn, "192.0.2.1")

    async def say(self, line: str) -> bytes:
        self.conn.receive_data(line.encode() + b"\r\n")
        out = b""
        while not self.conn.wants_close:
            event = self.conn.next_event()
            if event is NEED_DATA:
                break
            answer = self.session.handle(event)  # type: ignore[arg-type]
            if answer is None:
                break
            response = answer if isinstance(answer, Response) else await answer
            out += self.conn.send(response)
            if self.session.close_requested:
                self.conn.close()
        return out


def context(store: FakeStore, blobs: FakeBlobs, **kw: object) -> Pop3Context:
    return Pop3Context(
        hostname="mx.example.org",
        directory=directory,
        runner=AsyncStore(),
        store=store,  # type: ignore[arg-type]
        blobs=blobs,  # type: ignore[arg-type]
        auth=AuthService(directory, AuthConfig(), verify=lambda stored, pw: pw == "pw"),
        **kw,  # type: ignore[arg-type]
    )


async def logged_in(ctx: Pop3Context) -> Client:
    client = Client(ctx)
    assert (await client.say("USER Alice@Example.org")).startswith(b"+OK")
    assert (await client.say("PASS pw")).startswith(b"+OK Logged in, 2 messages")
    return client


def test_transaction_transcript() -> None:
    async def main() -> None:
        store, blobs = FakeStore(), FakeBlobs()
        c = await logged_in(context(store, blobs))
        sizes = [m.size for m in store.messages]
        assert await c.say("STAT") == f"+OK 2 {sum(sizes)}\r\n".encode()
        assert (
            await c.say("LIST")
            == (
                f"+OK 2 messages ({sum(sizes)} octets)\r\n1 {sizes[0]}\r\n2 {sizes[1]}\r\n.\r\n"
            ).encode()
        )
        assert (
            await c.say("UIDL") == b"+OK Unique-ID listing follows\r\n1 777.4\r\n2 777.9\r\n.\r\n"
        )
        assert await c.say("UIDL 2") == b"+OK 2 777.9\r\n"
        assert (
            await c.say("RETR 1")
            == (
                f"+OK {sizes[0]} octets\r\nX-Prefix: 1\r\nSubject: one\r\n\r\n"
                "line 1\r\n..dot\r\nline 3\r\n.\r\n"
            ).encode()
        )
        assert await c.say("TOP 1 1") == (
            b"+OK Top of message follows\r\nX-Prefix: 1\r\nSubject: one\r\n\r\nline 1\r\n.\r\n"
        )
        assert await c.say("DELE 1") == b"+OK Message 1 deleted\r\n"
        assert await c.say("DELE 1") == b"-ERR Message already deleted\r\n"
        assert await c.say("RETR 1") == b"-ERR No such message\r\n"
        assert await c.say("LIST 1") == b"-ERR No such message\r\n"
        assert await c.say("LIST 3") == b"-ERR No such message\r\n"
        assert (await c.say("LIST")).endswith(f"2 {sizes[1]}\r\n.\r\n".encode())
        assert await c.say("STAT") == f"+OK 1 {sizes[1]}\r\n".encode()
        assert (
            await c.say("RSET") == f"+OK Maildrop has 2 messages ({sum(sizes)} octets)\r\n".encode()
        )
        assert await c.say("DELE 2") == b"+OK Message 2 deleted\r\n"
        assert await c.say("NOOP") == b"+OK\r\n"
        assert store.expunged == []
        assert (await c.say("QUIT")).startswith(b"+OK")
        assert store.expunged == [9]
        assert blobs.deleted == [BlobRef("b" * 64, len(BODIES["b" * 64]))]
        assert c.conn.wants_close

    asyncio.run(main())


def test_lock_in_use_and_released() -> None:
    async def main() -> None:
        ctx = context(FakeStore(), FakeBlobs(), locks=MaildropLocks())
        first = await logged_in(ctx)
        second = Client(ctx)
        await second.say("USER alice@example.org")
        assert await second.say("PASS pw") == (
            b"-ERR [IN-USE] Maildrop already locked by another session\r\n"
        )
        first.session.close()  # connection dropped: lock released, nothing expunged
        assert ctx.store.expunged == []  # type: ignore[attr-defined]
        await second.say("USER alice@example.org")
        assert (await second.say("PASS pw")).startswith(b"+OK")

    asyncio.run(main())


def test_auth_failures_and_sasl() -> None:
    async def main() -> None:
        ctx = context(FakeStore(), FakeBlobs())
        c = Client(ctx)
        await c.say("USER alice@example.org")
        assert await c.say("PASS nope") == b"-ERR [AUTH] Invalid credentials\r\n"
        await c.say("USER ghost@example.org")
        assert await c.say("PASS pw") == b"-ERR [AUTH] Invalid credentials\r\n"
        assert await c.say("AUTH LOGIN") == b"-ERR Unsupported SASL mechanism\r\n"
        wrong_authz = base64.b64encode(b"bob@example.org\0alice@example.org\0pw").decode()
        assert (await c.say(f"AUTH PLAIN {wrong_authz}")).startswith(b"-ERR [AUTH]")
        assert await c.say("AUTH PLAIN") == b"+ \r\n"
        assert await c.say("*") == b"-ERR AUTH cancelled\r\n"
        assert await c.say("AUTH PLAIN") == b"+ \r\n"
        token = base64.b64encode(b"\0alice@example.org\0pw").decode()
        assert (await c.say(token)).startswith(b"+OK Logged in")
        assert c.conn.state is State.TRANSACTION
        assert c.session.errors == 5

    asyncio.run(main())


def test_capa_depends_on_state_and_tls() -> None:
    async def main() -> None:
        ctx = context(FakeStore(), FakeBlobs())
        plain = Client(ctx, Pop3Options())
        caps = await plain.say("CAPA")
        assert b"STLS\r\n" in caps
        assert b"USER\r\n" not in caps
        assert b"SASL" not in caps
        assert caps.endswith(b"IMPLEMENTATION Roost\r\n.\r\n")
        assert b"RESP-CODES\r\n" in caps
        assert b"PIPELINING\r\n" in caps
        assert (await plain.say("STLS")).startswith(b"+OK")
        assert plain.session.start_tls_requested
        lax = Client(ctx, Pop3Options(allow_plaintext_auth=True))
        assert b"USER\r\nSASL PLAIN\r\n" in await lax.say("CAPA")
        notls = Client(context(FakeStore(), FakeBlobs(), tls_available=False), Pop3Options())
        assert b"STLS" not in await notls.say("CAPA")
        assert await notls.say("STLS") == b"-ERR TLS is not available\r\n"

    asyncio.run(main())


def test_too_many_errors_close_the_session() -> None:
    async def main() -> None:
        c = Client(context(FakeStore(), FakeBlobs(), max_errors=3, error_delay_after=1))
        assert (await c.say("BOGUS")).startswith(b"-ERR Unknown")
        assert c.session.penalty() == 0
        assert (await c.say("STAT")).startswith(b"-ERR")
        assert c.session.penalty() == 1.0
        assert await c.say("BOGUS") == b"-ERR Too many errors, closing connection\r\n"
        assert c.conn.wants_close

    asyncio.run(main())


def test_quit_in_authorization_and_top_edges() -> None:
    async def main() -> None:
        c = Client(context(FakeStore(), FakeBlobs()))
        assert (await c.say("QUIT")).startswith(b"+OK")
        assert c.conn.wants_close

    asyncio.run(main())
    msg = b"H: 1\r\n\r\na\r\nb\r\n"
    assert top(msg, 0) == b"H: 1\r\n\r\n"
    assert top(msg, 2) == msg
    assert top(msg, 3) == msg
    assert top(b"H: 1\r\n\r\na\r\nno end", 5) == b"H: 1\r\n\r\na\r\nno end"
    assert top(b"H: only\r\n", 1) == b"H: only\r\n"
