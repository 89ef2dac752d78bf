"""Small loopback servers speaking rspamd's HTTP protocol and clamd's INSTREAM protocol.

They run on the test's own event loop (start inside the coroutine), record what they were
sent, and can be told to never answer, so timeouts are tested against a real silent peer.
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass, field
from typing import Any

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class _LoopbackServer:
    """Start on an ephemeral loopback port; stop ends the handlers still running (a silent
    server's sleepers). Subclasses define `_serve` and call `_track` first in it."""

    server: asyncio.Server | None = None
    tasks: set[asyncio.Task[Any]]

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()

    def _track(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


@dataclass
class HttpRequest:
    line: str
    headers: list[tuple[str, str]]
    body: bytes

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class FakeRspamd(_LoopbackServer):
    """Answers every request with `answer` (a dict as JSON, or raw bytes) and `status`."""

    answer: Any = field(
        default_factory=lambda: {
            "action": "no action",
            "score": 0.5,
            "required_score": 15.0,
            "symbols": {},
        }
    )
    status: int = 200
    chunked: bool = False
    silent: bool = False  # read the request, never answer
    requests: list[HttpRequest] = field(default_factory=list)
    server: asyncio.Server | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        try:
            line = (await reader.readline()).decode().strip()
            headers: list[tuple[str, str]] = []
            while (raw := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = raw.decode().partition(":")
                headers.append((name.strip(), value.strip()))
            length = int({k.lower(): v for k, v in headers}["content-length"])
            body = await reader.readexactly(length)
            self.requests.append(HttpRequest(line, headers, body))
            if self.silent:
                await asyncio.sleep(3600)
                return
            payload = (
                self.answer if isinstance(self.answer, bytes) else json.dumps(self.answer).encode()
            )
            head = f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
            if self.chunked:
                half = len(payload) // 2
                chunks = b"".join(
                    b"%x\r\n%s\r\n" % (len(c), c) for c in (payload[:half], payload[half:]) if c
                )
                writer.write(
                    f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + chunks + b"0\r\n\r\n"
                )
            else:
                writer.write(f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
            await writer.drain()
        finally:
            writer.close()


@dataclass
class FakeClamd(_LoopbackServer):
    """clamd's zINSTREAM: finds the EICAR string; `silent` never answers; `max_size` refuses."""

    silent: bool = False
    max_size: int = 10 * 1024 * 1024
    received: list[bytes] = field(default_factory=list)
    chunk_sizes: list[int] = field(default_factory=list)
    server: asyncio.Server | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        try:
            command = await reader.readuntil(b"\0")
            if command != b"zINSTREAM\0":
                writer.write(b"UNKNOWN COMMAND\0")
                return
            data = b""
            while True:
                (size,) = struct.unpack("!I", await reader.readexactly(4))
                if size == 0:
                    break
                self.chunk_sizes.append(size)
                data += await reader.readexactly(size)
                if len(data) > self.max_size:
                    writer.write(b"INSTREAM size limit exceeded. ERROR\0")
                    return
            self.received.append(data)
            if self.silent:
                await asyncio.sleep(3600)
                return
            found = b"stream: Eicar-Signature FOUND\0" if EICAR in data else b"stream: OK\0"
            writer.write(found)
            await writer.drain()
        finally:
            writer.close()
