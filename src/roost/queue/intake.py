"""Intake (Postfix's cleanup role): the ONE way into the queue, with group commit.

A message is acknowledged only after its body and its rows are durable. Sessions hand finished
messages to `Intake.submit`; a single writer drains everything waiting into one batch: bodies up
to `inline_max` go into the database with the rows, larger ones are written to the file blob store
and synced together first; then all rows commit in one transaction and every waiting session is
woken. Under load the batch grows by itself, so the cost of durability (fsync, commit)
is shared by all messages that arrived while the previous batch was being written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from roost.obs.log import log_event
from roost.queue.spool import SpooledMessage
from roost.store.aio import AsyncStore
from roost.store.interface import BlobStore, Store
from roost.store.types import BlobRef, NewMessage

log = logging.getLogger("roost.queue")


@dataclass(slots=True)
class _Pending:
    content: SpooledMessage
    build: Callable[[BlobRef], NewMessage]
    done: asyncio.Future[None]


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
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._runner = runner
        self._max_batch = max_batch
        self._inline_max = inline_max
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
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.put_nowait(_Pending(content, build, done))
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
            await self._runner.run(self._write_batch, batch)
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

    def _write_batch(self, batch: Sequence[_Pending]) -> None:
        """On the store thread: large bodies in place and synced, then one transaction."""
        file_refs: list[BlobRef] = []
        messages = [self._message(item, file_refs) for item in batch]
        if file_refs:
            self._blobs.sync(file_refs)
        self._store.enqueue_batch(messages)

    def _message(self, item: _Pending, file_refs: list[BlobRef]) -> NewMessage:
        content = item.content
        if content.data is not None and content.size <= self._inline_max:
            # Inline: the body commits with the rows, so the batch costs one database fsync.
            return replace(item.build(BlobRef(content.digest, content.size)), body=content.data)
        ref = self._put_blob(content)
        file_refs.append(ref)
        return item.build(ref)

    def _put_blob(self, content: SpooledMessage) -> BlobRef:
        if content.data is not None:
            return self._blobs.put(content.data)
        assert content.path is not None
        return self._blobs.put_file(content.path, content.digest, content.size)
