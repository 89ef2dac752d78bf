"""A tiny asyncio HTTPS server on 127.0.0.1 serving an MTA-STS policy, for MTA-STS tests.

Its certificate is self-signed for `mta-sts.example.test` (made by roost.tlsutil), and
`client_context()` is a client SSLContext that trusts exactly that certificate, so the fetch is
verified for real. `mode` picks the answer: "policy" (200 with `policy`), "404", "redirect",
"oversized", "chunked", "wrong-type" or "hang" (accept and never answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
from pathlib import Path
from types import TracebackType

from roost.tlsutil import make_self_signed

HOSTNAME = "mta-sts.example.test"

POLICY = (
    "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.mx.example.test\r\n"
    "max_age: 86400\r\n"
)


class PolicyServer:
    def __init__(self, policy: str = POLICY, hostname: str = HOSTNAME) -> None:
        self.policy = policy
        self.mode = "policy"
        self.requests: list[str] = []
        pair = make_self_signed(hostname)
        self.cert_pem = pair.cert_pem
        self._server_context = _server_context(pair.cert_pem, pair.key_pem)
        self._server: asyncio.Server | None = None
        self._hung: list[asyncio.StreamWriter] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context whose only trusted certificate is this server's."""
        return ssl.create_default_context(cadata=self.cert_pem.decode("ascii"))

    async def __aenter__(self) -> PolicyServer:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self._server_context
        )
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for writer in self._hung:
            writer.close()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head.decode("latin-1"))
            if self.mode == "hang":
                self._hung.append(writer)
                return
            writer.write(self._response())
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        if self.mode != "hang":
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    def _response(self) -> bytes:
        body = self.policy.encode()
        if self.mode == "404":
            return _http("404 Not Found", b"not here\n")
        if self.mode == "redirect":
            extra = "Location: https://elsewhere.example.test/.well-known/mta-sts.txt\r\n"
            return _http("301 Moved Permanently", b"", extra=extra)
        if self.mode == "oversized":
            return _http("200 OK", body + b"#" * (70 * 1024))
        if self.mode == "wrong-type":
            return _http("200 OK", body, content_type="text/html")
        if self.mode == "chunked":
            chunks = b"".join(
                b"%x\r\n%s\r\n" % (len(body[i : i + 10]), body[i : i + 10])
                for i in range(0, len(body), 10)
            )
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            head += b"Transfer-Encoding: chunked\r\n\r\n"
            return head + chunks + b"0\r\n\r\n"
        return _http("200 OK", body)


def _http(status: str, body: bytes, *, content_type: str = "text/plain", extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert.write_bytes(cert_pem)
        key.write_bytes(key_pem)
        context.load_cert_chain(cert, key)
    return context
