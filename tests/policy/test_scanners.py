"""rspamd and clamd clients against real loopback servers: verdicts, timeouts, fail open/closed."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from roost.policy.clamd import ClamdClient, ClamdSettings
from roost.policy.rspamd import Envelope, RspamdClient, RspamdSettings, verdict_from_json
from roost.policy.verdict import ScanVerdict
from tests.policy.scanservers import EICAR, FakeClamd, FakeRspamd

T = TypeVar("T")

MESSAGE = [b"Received: from x\r\n", b"Subject: hi\r\n\r\nHello\r\n"]
ENVELOPE = Envelope(
    client_ip="192.0.2.1",
    helo="client.remote.test",
    sender="alice@remote.test",
    recipients=("bob@example.org", "carol@example.org"),
    queue_id="Q123",
)


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


async def with_rspamd(
    fake: FakeRspamd, scan: Callable[[RspamdClient], Awaitable[T]], **kw: Any
) -> T:
    port = await fake.start()
    try:
        return await scan(RspamdClient(RspamdSettings(port=port, **kw)))
    finally:
        await fake.stop()


def rspamd_scan(fake: FakeRspamd, envelope: Envelope = ENVELOPE, **kw: Any) -> ScanVerdict:
    return run(with_rspamd(fake, lambda c: c.scan(envelope, MESSAGE), **kw))


def answer(action: str, score: float = 3.0, **extra: Any) -> dict[str, Any]:
    return {
        "action": action,
        "score": score,
        "required_score": 15.0,
        "symbols": {"R_SPF_ALLOW": {"score": -0.2}, "BAYES_HAM": {"score": -3}},
        **extra,
    }


# --- rspamd ---------------------------------------------------------------------------------


def test_rspamd_request_carries_envelope_and_message() -> None:
    fake = FakeRspamd()
    env = Envelope("192.0.2.1", "helo.test", "a@remote.test", ("b@example.org", "c@example.org"),
                   user="alice@example.org", queue_id="Q1")  # fmt: skip
    verdict = rspamd_scan(fake, env)
    assert verdict.action == "accept"
    (req,) = fake.requests
    assert req.line == "POST /checkv2 HTTP/1.1"
    assert req.values("IP") == ["192.0.2.1"]
    assert req.values("Helo") == ["helo.test"]
    assert req.values("From") == ["a@remote.test"]
    assert req.values("Rcpt") == ["b@example.org", "c@example.org"]
    assert req.values("User") == ["alice@example.org"]
    assert req.values("Queue-Id") == ["Q1"]
    assert req.body == b"".join(MESSAGE)


def test_rspamd_client_text_cannot_inject_headers() -> None:
    fake = FakeRspamd()
    rspamd_scan(fake, Envelope(helo="evil\r\nUser: admin@example.org", sender="<>"))
    (req,) = fake.requests
    assert req.values("User") == []
    assert req.values("Helo") == ["evilUser: admin@example.org"]


@pytest.mark.parametrize(
    ("action", "expected"),
    [("no action", "accept"), ("add header", "junk"), ("rewrite subject", "junk"),
     ("greylist", "tempfail"), ("soft reject", "tempfail"), ("reject", "reject")],
)  # fmt: skip
def test_rspamd_actions_map_to_verdicts(action: str, expected: str) -> None:
    verdict = rspamd_scan(FakeRspamd(answer=answer(action)))
    assert verdict.action == expected
    assert verdict.score == 3.0
    assert verdict.required_score == 15.0
    assert verdict.symbols == ("BAYES_HAM", "R_SPF_ALLOW")
    assert verdict.error is None
    assert ("X-Spam", "Yes") in verdict.headers_to_add if expected == "junk" else True
    if expected == "reject":
        assert verdict.reply is not None
        assert verdict.reply.format().startswith(b"554 5.7.1 ")
    elif expected == "tempfail":
        assert verdict.reply is not None
        assert verdict.reply.format().startswith(b"451 4.7.1 ")
    else:
        assert verdict.reply is None


def test_rspamd_reject_uses_its_smtp_message_and_milter_headers() -> None:
    doc = answer(
        "reject",
        20,
        messages={"smtp_message": "Spam message rejected\r\nbad"},
        milter={"add_headers": {"X-Spamd-Bar": "++++", "X-Extra": {"value": "v", "order": 0}}},
    )
    verdict = rspamd_scan(FakeRspamd(answer=doc))
    assert verdict.reply is not None
    assert verdict.reply.format() == b"554 5.7.1 Spam message rejected  bad\r\n"
    assert ("X-Spamd-Bar", "++++") in verdict.headers_to_add
    assert ("X-Extra", "v") in verdict.headers_to_add
    assert verdict.headers_to_add[0] == (
        "X-Spam-Status",
        "Yes, score=20.00 required=15.00, action=reject",
    )


def test_rspamd_chunked_answer() -> None:
    assert rspamd_scan(FakeRspamd(answer=answer("add header"), chunked=True)).action == "junk"


def test_rspamd_silent_server_times_out_fail_open(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeRspamd(silent=True)
    with caplog.at_level(logging.WARNING, logger="roost.policy"):
        verdict = rspamd_scan(fake, timeout=0.3, fail_open=True)
    assert verdict.action == "accept"
    assert verdict.error is not None
    assert "no answer within 0.3 s" in verdict.error
    assert verdict.reply is None
    assert any("rspamd unavailable" in r.getMessage() for r in caplog.records)
    assert len(fake.requests) == 1  # it did get the whole request


def test_rspamd_silent_server_times_out_fail_closed() -> None:
    verdict = rspamd_scan(FakeRspamd(silent=True), timeout=0.3, fail_open=False)
    assert verdict.action == "tempfail"
    assert verdict.reply is not None
    assert verdict.reply.format().startswith(b"451 4.7.1 ")


@pytest.mark.parametrize(
    "fake",
    [FakeRspamd(answer=b"not json"), FakeRspamd(answer={"score": 1}), FakeRspamd(status=500),
     FakeRspamd(answer={"action": "explode"})],
)  # fmt: skip
def test_rspamd_bad_answers_follow_fail_mode(fake: FakeRspamd) -> None:
    assert rspamd_scan(fake, fail_open=False).action == "tempfail"


def test_rspamd_connection_refused_fails_open() -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        verdict = run(RspamdClient(RspamdSettings(port=port, timeout=2)).scan(ENVELOPE, MESSAGE))
    assert verdict.action == "accept"
    assert verdict.failed


def test_verdict_from_json_tolerates_missing_fields() -> None:
    v = verdict_from_json(b'{"action": "no action"}')
    assert (v.action, v.score, v.symbols) == ("accept", None, ())


# --- clamd ----------------------------------------------------------------------------------


async def with_clamd(fake: FakeClamd, message: list[bytes], **kw: Any) -> ScanVerdict:
    port = await fake.start()
    try:
        return await ClamdClient(ClamdSettings(port=port, **kw)).scan(message)
    finally:
        await fake.stop()


def test_clamd_clean_message() -> None:
    fake = FakeClamd()
    verdict = run(with_clamd(fake, MESSAGE))
    assert verdict.action == "accept"
    assert verdict.error is None
    assert fake.received == [b"".join(MESSAGE)]


def test_clamd_finds_eicar_across_chunks() -> None:
    """The test string split over parts and 16-byte chunks is still found: 554 5.7.1."""
    fake = FakeClamd()
    body = [b"Subject: x\r\n\r\n" + EICAR[:30], EICAR[30:] + b"\r\n"]
    verdict = run(with_clamd(fake, body, chunk_size=16))
    assert verdict.action == "reject"
    assert verdict.symbols == ("Eicar-Signature",)
    assert verdict.reply is not None
    assert verdict.reply.format() == b"554 5.7.1 Message contains a virus (Eicar-Signature)\r\n"
    assert max(fake.chunk_sizes) == 16


def test_clamd_silent_fail_open_and_closed() -> None:
    open_ = run(with_clamd(FakeClamd(silent=True), MESSAGE, timeout=0.3, fail_open=True))
    assert open_.action == "accept"
    assert open_.failed
    closed = run(with_clamd(FakeClamd(silent=True), MESSAGE, timeout=0.3, fail_open=False))
    assert closed.action == "tempfail"
    assert closed.reply is not None
    assert closed.reply.format().startswith(b"451 4.7.1 ")


def test_clamd_size_limit_is_an_error_not_clean() -> None:
    verdict = run(
        with_clamd(FakeClamd(max_size=100), [b"x" * 5000], fail_open=False, chunk_size=64)
    )
    assert verdict.action == "tempfail"
    assert verdict.error is not None
    assert "size limit" in verdict.error


def test_clamd_unreachable_fails_closed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        verdict = run(ClamdClient(ClamdSettings(port=port, fail_open=False)).scan(MESSAGE))
    assert verdict.action == "tempfail"


def test_clamd_unix_socket(tmp_path: Any) -> None:
    path = str(tmp_path / "clamd.sock")
    fake = FakeClamd()

    async def scan() -> ScanVerdict:
        server = await asyncio.start_unix_server(fake._serve, path)
        try:
            return await ClamdClient(ClamdSettings(unix_path=path)).scan([EICAR])
        finally:
            server.close()
            await server.wait_closed()

    assert run(scan()).action == "reject"
