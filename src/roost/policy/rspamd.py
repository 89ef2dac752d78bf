"""rspamd through its HTTP protocol: ``POST /checkv2`` with the message and its envelope.

One request shape only, so a small HTTP/1.1 client on asyncio streams does the job without a
new dependency: the request carries ``Content-Length`` and ``Connection: close``; the reply is
read by its ``Content-Length``, as chunks, or up to the close. The envelope goes in the headers
rspamd's protocol documents (``IP``, ``Helo``, ``From``, one ``Rcpt`` per recipient, ``User``
for an authenticated sender, ``Queue-Id``); the JSON answer's ``action`` decides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from roost.policy.verdict import REJECT_REPLY, TEMPFAIL_REPLY, Action, ScanVerdict, scanner_failed
from roost.smtp.reply import Reply

log = logging.getLogger("roost.policy.rspamd")

MAX_RESPONSE = 1 << 20  # a verdict is a few KiB; more means something else answered
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class RspamdSettings:
    """Where rspamd's normal worker listens, how long to wait, and what a failure means."""

    host: str = "127.0.0.1"
    port: int = 11333
    timeout: float = 15.0
    fail_open: bool = True
    password: str | None = None  # only when rspamd asks for one (the controller does)


@dataclass(frozen=True, slots=True)
class Envelope:
    """What rspamd should know besides the message; empty fields are not sent."""

    client_ip: str = ""
    helo: str = ""
    sender: str = ""
    recipients: Sequence[str] = ()
    user: str = ""  # the authenticated user, if any
    queue_id: str = ""
    hostname: str = ""  # the client's verified reverse DNS name


class ScanError(Exception):
    """The scanner gave no usable answer."""


# rspamd's actions (rspamd docs, "Actions"): what the MTA is asked to do with the message.
_ACTIONS: dict[str, Action] = {
    "no action": "accept",
    "add header": "junk",
    "rewrite subject": "junk",
    "greylist": "tempfail",
    "soft reject": "tempfail",
    "reject": "reject",
}


class RspamdClient:
    def __init__(self, settings: RspamdSettings) -> None:
        self._settings = settings

    async def scan(self, envelope: Envelope, message: Sequence[bytes]) -> ScanVerdict:
        """The verdict for `message` (its parts in order, e.g. prefix and body); never raises
        for scanner trouble: that becomes the fail-open or fail-closed verdict."""
        try:
            async with asyncio.timeout(self._settings.timeout):
                status, body = await self._request(envelope, message)
            if status != 200:
                raise ScanError(f"HTTP {status}: {body[:200]!r}")
            return verdict_from_json(body)
        except TimeoutError:
            error = f"no answer within {self._settings.timeout:g} s"
        except (OSError, ScanError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        return scanner_failed("rspamd", error, fail_open=self._settings.fail_open, logger=log)

    async def _request(self, envelope: Envelope, message: Sequence[bytes]) -> tuple[int, bytes]:
        s = self._settings
        reader, writer = await asyncio.open_connection(s.host, s.port)
        try:
            writer.write(request_head(envelope, sum(map(len, message)), s))
            for part in message:
                writer.write(part)
                await writer.drain()
            return await read_response(reader)
        finally:
            # abort, not close: close() would first flush what an unresponsive scanner never
            # read, and the answer (if any) has been read already.
            writer.transport.abort()


def _clean(value: str) -> str:
    """A header value from client-supplied text: control characters (CR, LF) removed."""
    return _CONTROL.sub("", value).strip()


def request_head(envelope: Envelope, length: int, settings: RspamdSettings) -> bytes:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    lines = [
        "POST /checkv2 HTTP/1.1",
        f"Host: {host}:{settings.port}",
        f"Content-Length: {length}",
        "Connection: close",
    ]
    fields = [("IP", envelope.client_ip), ("Helo", envelope.helo), ("From", envelope.sender),
              ("User", envelope.user), ("Queue-Id", envelope.queue_id),
              ("Hostname", envelope.hostname)]  # fmt: skip
    fields += [("Rcpt", rcpt) for rcpt in envelope.recipients]
    if settings.password:
        fields.append(("Password", settings.password))
    lines += [f"{name}: {_clean(value)}" for name, value in fields if _clean(value)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.1 response; ScanError when it is not one."""
    status_line = await reader.readline()
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ScanError(f"not an HTTP response: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for _ in range(100):
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    else:
        raise ScanError("too many HTTP header lines")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        length = int(headers["content-length"]) if headers["content-length"].isdigit() else -1
        if not 0 <= length <= MAX_RESPONSE:
            raise ScanError(f"bad Content-Length {headers['content-length']!r}")
        body = await reader.readexactly(length)
    else:
        body = await reader.read(MAX_RESPONSE + 1)
    if len(body) > MAX_RESPONSE:
        raise ScanError("response too large")
    return int(parts[1]), body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size_line = (await reader.readline()).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise ScanError(f"bad chunk size {size_line[:20]!r}") from None
        if size == 0:
            await reader.readline()  # the empty line after the last chunk (no trailers sent)
            return body
        if len(body) + size > MAX_RESPONSE:
            raise ScanError("response too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _smtp_text(doc: Mapping[str, Any]) -> str:
    """rspamd's ``messages.smtp_message`` (a reply text a rule chose), made one safe line."""
    messages = doc.get("messages")
    text = messages.get("smtp_message") if isinstance(messages, dict) else None
    if not isinstance(text, str):
        return ""
    return _CONTROL.sub(" ", text).encode("ascii", "replace").decode()[:200].strip()


def _milter_headers(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``milter.add_headers``: name -> value, or -> {"value": ...}, or -> a list of either."""
    milter = doc.get("milter")
    wanted = milter.get("add_headers") if isinstance(milter, dict) else None
    out: list[tuple[str, str]] = []
    if not isinstance(wanted, dict):
        return out
    for name, spec in wanted.items():
        for item in spec if isinstance(spec, list) else [spec]:
            value = item.get("value") if isinstance(item, dict) else item
            if (
                isinstance(name, str)
                and isinstance(value, str)
                and re.fullmatch(r"[!-9;-~]+", name)
            ):
                out.append((name, _CONTROL.sub(" ", value).strip()))
    return out


def verdict_from_json(body: bytes) -> ScanVerdict:
    """Map rspamd's answer to a verdict; ScanError when it is not one."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise ScanError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("action"), str):
        raise ScanError(f"no action in the answer: {body[:200]!r}")
    rspamd_action = doc["action"]
    action = _ACTIONS.get(rspamd_action)
    if action is None:
        raise ScanError(f"unknown action {rspamd_action!r}")
    score, required = _number(doc.get("score")), _number(doc.get("required_score"))
    symbols = doc.get("symbols")
    names = tuple(sorted(symbols)) if isinstance(symbols, dict) else ()
    spam = action in ("junk", "reject")
    status = f"{'Yes' if spam else 'No'}, score={score or 0:.2f} required={required or 0:.2f}"
    headers = [("X-Spam-Status", f"{status}, action={rspamd_action}")]
    if action == "junk":
        headers.append(("X-Spam", "Yes"))
    headers += _milter_headers(doc)
    text = _smtp_text(doc)
    reply: Reply | None = None
    if action == "reject":
        reply = REJECT_REPLY.with_text(text) if text else REJECT_REPLY
    elif action == "tempfail":
        reply = TEMPFAIL_REPLY.with_text(text or "Try again later")
    return ScanVerdict(action, text or f"rspamd: {rspamd_action}", score, required,
                       tuple(headers), names, reply=reply)  # fmt: skip
