"""Watches the header section of a message as it streams in (size limit, which fields exist).

Only the header section is kept, and only up to the limit, so a huge message never sits in memory.
"""

from __future__ import annotations

import re

_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)  # RFC 5322 §3.6.8 ftext


class HeaderWatcher:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buf = bytearray()
        self.done = False
        self.too_big = False

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        start = max(0, len(self._buf) - 3)
        self._buf += data
        if self._buf.startswith(b"\r\n"):  # no header section at all
            self._finish(0)
            return
        end = self._buf.find(b"\r\n\r\n", start)
        if end >= 0:
            self._finish(end + 2)
        elif len(self._buf) > self._limit:
            self.too_big = True
            self._finish(0)

    def _finish(self, length: int) -> None:
        if length > self._limit:
            self.too_big = True
            length = 0
        del self._buf[length:]
        self.done = True

    def field_names(self) -> set[str]:
        """Lower-cased names of the header fields seen (empty if the section was too big)."""
        return {m.group(1).decode("ascii").lower() for m in _FIELD_NAME.finditer(self._buf)}
