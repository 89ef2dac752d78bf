"""Calling the synchronous store from asyncio without blocking the event loop.

All store and blob calls go through one dedicated thread: SQLite then sees a single writer in
this process, calls keep their submission order, and the loop never waits on disk or network.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from roost.store.interface import BlobStore, Store

P = ParamSpec("P")
T = TypeVar("T")


class AsyncStore:
    """Owns the "roost-store" worker thread; optionally holds the store and blobs it serves.

    Usage: `await astore.run(astore.store.enqueue_batch, batch)`. `close()` stops the thread
    after the calls already submitted, then closes the store it was given.
    """

    def __init__(self, store: Store | None = None, blobs: BlobStore | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roost-store")
        self._store = store
        self._blobs = blobs

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("AsyncStore was created without a store")
        return self._store

    @property
    def blobs(self) -> BlobStore:
        if self._blobs is None:
            raise RuntimeError("AsyncStore was created without a blob store")
        return self._blobs

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(*args, **kwargs)` on the store thread and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._store is not None:
            self._store.close()
