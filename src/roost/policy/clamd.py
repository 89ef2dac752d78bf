"""ClamAV through clamd's socket protocol: ``zINSTREAM`` with the message in chunks.

Each chunk is a 4-byte big-endian length and the bytes; a zero length ends the stream. The
``z`` prefix makes clamd end its one-line reply with a NUL: ``stream: OK``, ``stream: NAME
FOUND`` or ``... ERROR`` (e.g. the message is over clamd's StreamMaxLength). A virus is a
permanent ``554 5.7.1``; trouble reaching clamd follows `fail_open`.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from roost.policy.verdict import VIRUS_REPLY, ScanVerdict, scanner_failed

log = logging.getLogger("roost.policy.clamd")

MAX_REPLY = 4096


@dataclass(frozen=True, slots=True)
class ClamdSettings:
    """clamd's TCP address, or `unix_path` for its local socket (then host/port are unused)."""

    host: str = "127.0.0.1"
    port: int = 3310
    unix_path: str | None = None
    timeout: float = 30.0
    fail_open: bool = True
    chunk_size: int = 64 * 1024


class ClamdError(Exception):
    """clamd gave no usable answer."""


class ClamdClient:
    def __init__(self, settings: ClamdSettings) -> None:
        self._settings = settings

    async def scan(self, message: Sequence[bytes]) -> ScanVerdict:
        """Scan the message (its parts in order); never raises for scanner trouble."""
        try:
            async with asyncio.timeout(self._settings.timeout):
                reply = await self._instream(message)
            return verdict_from_reply(reply)
        except TimeoutError:
            error = f"no answer within {self._settings.timeout:g} s"
        except (OSError, ClamdError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        return scanner_failed("clamd", error, fail_open=self._settings.fail_open, logger=log)

    async def _instream(self, message: Sequence[bytes]) -> str:
        s = self._settings
        if s.unix_path:
            reader, writer = await asyncio.open_unix_connection(s.unix_path)
        else:
            reader, writer = await asyncio.open_connection(s.host, s.port)
        try:
            writer.write(b"zINSTREAM\0")
            for part in message:
                view = memoryview(part)
                for start in range(0, len(view), s.chunk_size):
                    chunk = view[start : start + s.chunk_size]
                    writer.write(struct.pack("!I", len(chunk)))
                    writer.write(chunk)
                    await writer.drain()
            writer.write(struct.pack("!I", 0))
            await writer.drain()
            raw = await reader.readuntil(b"\0")
        except asyncio.IncompleteReadError as exc:
            raw = exc.partial  # clamd closed without the NUL (some versions on errors)
            if not raw:
                raise ClamdError("clamd closed the connection without a reply") from None
        except ConnectionResetError:
            # clamd drops the connection when the stream exceeds StreamMaxLength; it may have
            # sent its "size limit exceeded" line first.
            raw = await reader.read(MAX_REPLY)
            if not raw:
                raise
        finally:
            writer.transport.abort()  # see rspamd.py: never wait on a peer that stopped reading
        return raw.rstrip(b"\0").decode("utf-8", "replace").strip()


def verdict_from_reply(reply: str) -> ScanVerdict:
    """``stream: OK`` -> accept; ``stream: NAME FOUND`` -> reject; anything else: ClamdError."""
    _, _, result = reply.partition(": ")
    if result == "OK":
        return ScanVerdict("accept", "clamd: clean", headers_to_add=(("X-Virus-Scanned", "clamd"),))
    if result.endswith(" FOUND"):
        name = result[: -len(" FOUND")].strip() or "unknown"
        text = f"{VIRUS_REPLY.text} ({name})"
        return ScanVerdict("reject", text, symbols=(name,), reply=VIRUS_REPLY.with_text(text))
    raise ClamdError(f"clamd answered {reply[:200]!r}")
