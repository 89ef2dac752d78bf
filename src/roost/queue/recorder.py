"""Group commit for delivery outcomes: many messages' results in one store transaction.

Recording each message on its own cost one fsync per delivered message on the single store
thread that intake also needs (bench/README.md, relay). Like intake, one writer drains whatever
has accumulated while the previous batch was committing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from roost.store.aio import AsyncStore
from roost.store.interface import Store
from roost.store.types import AttemptResult


@dataclass(slots=True)
class _Item:
    queue_id: str
    result: AttemptResult
    done: asyncio.Future[None]


class Recorder:
    def __init__(self, store: Store, runner: AsyncStore, owner: str, max_batch: int = 256) -> None:
        self._store, self._runner, self._owner = store, runner, owner
        self._max_batch = max_batch
        self._waiting: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def record(self, queue_id: str, result: AttemptResult) -> None:
        """Return once this message's outcomes are committed; StoreError if refused."""
        if self._task is None:
            self._task = asyncio.create_task(self._writer(), name="roost-recorder")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.put_nowait(_Item(queue_id, result, done))
        await done

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _writer(self) -> None:
        while True:
            batch = [await self._waiting.get()]
            while len(batch) < self._max_batch and not self._waiting.empty():
                batch.append(self._waiting.get_nowait())
            await self._commit(batch)

    async def _commit(self, batch: list[_Item]) -> None:
        items = [(item.queue_id, item.result) for item in batch]
        try:
            errors = await self._runner.run(self._store.record_attempts, self._owner, items)
        except Exception as exc:
            for item in batch:
                item.done.set_exception(exc)
            return
        for item, error in zip(batch, errors, strict=True):
            if error is None:
                item.done.set_result(None)
            else:
                item.done.set_exception(error)
