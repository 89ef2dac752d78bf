"""A listener that cannot bind, or needs TLS that is not there, is a config error naming the key."""

from __future__ import annotations

import asyncio
import socket

import pytest

from roost.app import RoostServer
from roost.config import ConfigError, RoostConfig


def test_busy_port_names_the_listener_key(config: RoostConfig) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config.listeners.imaps.address = f"127.0.0.1:{port}"
        server = RoostServer(config)

        async def start() -> None:
            try:
                await server.start()
            finally:
                await server.stop()

        with pytest.raises(ConfigError, match=r"listeners\.imaps\.address = .*cannot listen"):
            asyncio.run(start())


def test_missing_tls_names_the_listener(config: RoostConfig) -> None:
    config.tls.cert = "nowhere/cert.pem"
    config.tls.key = "nowhere/key.pem"
    config.listeners.submission.enabled = False
    config.listeners.submissions.enabled = False
    server = RoostServer(config)

    async def start() -> None:
        try:
            await server.start()
        finally:
            await server.stop()

    with pytest.raises(ConfigError, match=r"listeners\.pop3: needs TLS"):
        asyncio.run(start())
