"""AsyncStore: store calls run on the dedicated worker thread, never on the event loop."""

from __future__ import annotations

import asyncio
import threading

from roost.config.model import RoostConfig
from roost.store import open_store
from roost.store.aio import AsyncStore


def test_run_on_store_thread(roost_config: RoostConfig) -> None:
    """Calls return their result and execute on the 'roost-store' thread; close closes all."""
    astore = AsyncStore(open_store(roost_config))

    async def main() -> tuple[str, list[str]]:
        await astore.run(astore.store.add_domain, "example.org")
        name = await astore.run(lambda: threading.current_thread().name)
        return name, await astore.run(astore.store.list_domains)

    name, domains = asyncio.run(main())
    astore.close()
    assert name.startswith("roost-store")
    assert domains == ["example.org"]
