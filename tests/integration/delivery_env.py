"""A small Internet on loopback for delivery tests: a DNS server and receiving SMTP servers.

Receiving servers listen on distinct 127.0.0.x addresses sharing one port (Roost's
`delivery.mx_port`), so MX records can point different domains at different behaviours exactly
as real DNS would. They run on their own event loop thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from roost.config import RoostConfig
from tests.delivery.servers import Received, Script, TestSmtpServer
from tests.dnsserver import DnsTestServer


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Network:
    dns: DnsTestServer
    port: int
    loop: asyncio.AbstractEventLoop
    servers: dict[str, TestSmtpServer] = field(default_factory=dict)

    def add_mx(self, domain: str, ip: str, script: Script, preference: int = 10) -> TestSmtpServer:
        """A receiving server at `ip`, published as the MX of `domain` (mx.<domain>)."""
        host = f"mx{len(self.servers)}.{domain}"
        server = TestSmtpServer(script, host=ip, port=self.port)
        asyncio.run_coroutine_threadsafe(server.__aenter__(), self.loop).result(10)
        self.servers[ip] = server
        zones = self.dns.zones
        zones.setdefault(domain, {}).setdefault("MX", []).append((preference, host))
        zones[host] = {"A": [ip]}
        self.dns.zones = zones
        return server

    def configure(self, config: RoostConfig) -> RoostConfig:
        config.dns.nameservers = [f"127.0.0.1:{self.dns.port}"]
        config.dns.timeout = 2.0
        config.delivery.mx_port = self.port
        config.delivery.poll_interval = 0.1
        config.delivery.retry.first = 1.0
        config.delivery.retry.jitter = 0.0
        config.delivery.default_tls = "may"
        return config


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll a condition the server reaches on its own (bounded; no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def received(server: TestSmtpServer) -> list[Received]:
    return list(server.messages)


@contextmanager
def loopback_network() -> Iterator[Network]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="test-mx-servers", daemon=True)
    thread.start()
    dns = DnsTestServer({}, ttl=1, negative_ttl=1)
    dns.start()
    network = Network(dns, free_port(), loop)
    try:
        yield network
    finally:
        for server in network.servers.values():
            asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(10)
        dns.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
