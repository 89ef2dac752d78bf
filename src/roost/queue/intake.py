"""Intake (Postfix's cleanup role): the ONE way into the queue, with group commit.

A message is acknowledged only after its body and its rows are durable. Sessions hand finished
messages to `Intake.submit`; a single writer drains everything waiting into one batch: bodies up
to `inline_max` go into the database with the rows, larger ones are written to the file blob store
and synced together first; then all rows commit in one transaction and every waiting session is
woken. Under load the batch grows by itself, so the cost of durability (fsync, commit)
is shared by all messages that arrived while the previous batch was being written.

A message with a local recipient also gets its IMAP structure (ENVELOPE, BODYSTRUCTURE) parsed
before it joins a batch, in a worker thread so neither the event loop nor the store thread
parses, and stored in the batch's transaction. After each commit `on_local_delivery` hears which
users got mail, so IMAP IDLE can wake at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from roost.message.wire import compute_structure
from roost.obs.log import log_event
from roost.queue.spool import SpooledMessage
from roost.store.aio import AsyncStore
from roost.store.interface import BlobStore, Store
from roost.store.types import BlobRef, MessageStructure, NewMessage

log = logging.getLogger("roost.queue")


@dataclass(slots=True)
class _Pending:
    content: SpooledMessage
    build: Callable[[BlobRef], NewMessage]
    done: asyncio.Future[None]
    structure: MessageStructure | None = None


class IntakeClosed(Exception):
    """The server is shutting down; the message was not accepted."""


class Intake:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        runner: AsyncStore,
        *,
        max_batch: int = 256,
        inline_max: int = 0,
        on_local_delivery: Callable[[frozenset[str]], None] | None = None,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._runner = runner
        self._max_batch = max_batch
        self._inline_max = inline_max
        self._on_local_delivery = on_local_delivery
        self._waiting: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.committed: list[Callable[[], None]] = []  # called after every durable batch

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="roost-intake")

    async def stop(self) -> None:
        """Finish what is waiting (those sessions get their 250), then stop."""
        self._closed = True
        while not self._waiting.empty():
            await self._commit(self._drain())
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, content: SpooledMessage, build: Callable[[BlobRef], NewMessage]) -> None:
        """Return once the message is durable; raise if it could not be stored."""
        if self._closed:
            raise IntakeClosed
        structure = None
        if _has_local_recipient(build(BlobRef(content.digest, content.size))):
            structure = await asyncio.to_thread(_structure_of, content)
        if self._closed:
            raise IntakeClosed
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.put_nowait(_Pending(content, build, done, structure))
        await done

    def _drain(self) -> list[_Pending]:
        batch: list[_Pending] = []
        while len(batch) < self._max_batch and not self._waiting.empty():
            batch.append(self._waiting.get_nowait())
        return batch

    async def _writer(self) -> None:
        while True:
            first = await self._waiting.get()
            batch = [first, *self._drain()]
            await self._commit(batch)

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            users = await self._runner.run(self._write_batch, batch)
        except Exception as exc:
            log_event(log, "batch failed", logging.ERROR, messages=len(batch), error=repr(exc))
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(exc)
            return
        for item in batch:
            if not item.done.done():
                item.done.set_result(None)
        for callback in self.committed:
            callback()
        if users and self._on_local_delivery is not None:
            try:
                self._on_local_delivery(users)
            except Exception as exc:  # a listener's bug must not stop intake
                log_event(log, "local delivery hook failed", logging.ERROR, error=repr(exc))

    def _write_batch(self, batch: Sequence[_Pending]) -> frozenset[str]:
        """On the store thread: large bodies in place and synced, then one transaction.
        Returns the local users that received mail."""
        file_refs: list[BlobRef] = []
        messages = [self._message(item, file_refs) for item in batch]
        if file_refs:
            self._blobs.sync(file_refs)
        self._store.enqueue_batch(messages)
        return frozenset(
            r.deliver_to for m in messages if not m.hold for r in m.recipients if r.deliver_to
        )

    def _message(self, item: _Pending, file_refs: list[BlobRef]) -> NewMessage:
        content = item.content
        if content.data is not None and content.size <= self._inline_max:
            # Inline: the body commits with the rows, so the batch costs one database fsync.
            built = item.build(BlobRef(content.digest, content.size))
            return replace(built, body=content.data, structure=item.structure)
        ref = self._put_blob(content)
        file_refs.append(ref)
        return replace(item.build(ref), structure=item.structure)

    def _put_blob(self, content: SpooledMessage) -> BlobRef:
        if content.data is not None:
            return self._blobs.put(content.data)
        assert content.path is not None
        return self._blobs.put_file(content.path, content.digest, content.size)


def _has_local_recipient(message: NewMessage) -> bool:
    return any(r.deliver_to for r in message.recipients)


def _structure_of(content: SpooledMessage) -> MessageStructure | None:
    """The message's IMAP structure; None (computed later, on FETCH) if it cannot be read."""
    try:
        if content.data is not None:
            return compute_structure(content.data)
        assert content.path is not None
        with open(content.path, "rb") as spooled:
            return compute_structure(spooled.read())
    except Exception as exc:  # never refuse mail because its structure could not be parsed
        log_event(log, "structure not computed", logging.WARNING, error=repr(exc))
        return None
