"""Framing: CRLF lines, synchronising and LITERAL+ literals, limits, byte-at-a-time feeding."""

from __future__ import annotations

import tracemalloc

import pytest

from roost.imap import (
    NEED_DATA,
    Closed,
    CommandReader,
    Done,
    NeedContinuation,
    ParseError,
    SaslResponse,
)
from roost.imap import commands as c
from tests.imap.util import byte_at_a_time, drain, results

PIPELINE = (
    b"a1 CAPABILITY\r\n"
    b"a2 LOGIN {4}\r\nfred {6+}\r\nsecret\r\n"
    b"a3 APPEND INBOX (\\Seen) {11+}\r\nHello\r\nJoe! ~{2+}\r\n\x00\x01\r\n"
    b"a4 FROB\r\n"
    b"a5 UID FETCH 1:* (FLAGS)\r\n"
)


def test_sync_literal_asks_for_continuation() -> None:
    """A {n} literal makes the reader ask for "+ Ready" before the octets arrive."""
    reader = CommandReader()
    assert results(b"A001 LOGIN {11}\r\n", reader) == [NeedContinuation("A001")]
    assert results(b"FRED FOOBAR {7}\r\n", reader) == [NeedContinuation("A001")]
    assert results(b"fat man\r\n", reader) == [c.Login("A001", "LOGIN", "FRED FOOBAR", "fat man")]


def test_literal_plus_needs_no_continuation() -> None:
    """RFC 7888 {n+}: the octets follow at once and no continuation is requested."""
    assert results(b"a LOGIN {4+}\r\nfred {2+}\r\npw\r\n") == [c.Login("a", "LOGIN", "fred", "pw")]


def test_pipeline_in_one_chunk() -> None:
    """Several commands in one read come out in order; a bad one does not disturb the rest."""
    out = results(PIPELINE)
    assert out[0] == c.Simple("a1", "CAPABILITY")
    assert out[1] == NeedContinuation("a2")
    assert out[2] == c.Login("a2", "LOGIN", "fred", "secret")
    assert isinstance(out[3], c.Append)
    assert [m.data for m in out[3].messages] == [b"Hello\r\nJoe!", b"\x00\x01"]
    assert out[4] == ParseError("a4", "unknown command FROB")
    assert isinstance(out[5], c.Fetch)
    assert len(out) == 6


def test_byte_at_a_time_gives_identical_results() -> None:
    """Feeding one octet at a time yields exactly what one big chunk yields."""
    assert byte_at_a_time(PIPELINE) == results(PIPELINE)


@pytest.mark.parametrize("split", range(1, 60))
def test_every_split_point(split: int) -> None:
    """Splitting the input in two anywhere gives the same results."""
    reader = CommandReader()
    out = results(PIPELINE[:split], reader) + results(PIPELINE[split:], reader)
    assert out == results(PIPELINE)


def test_long_line_is_refused_and_reader_recovers() -> None:
    """A line over max_line gets a tagged BAD at once; the next command is read normally."""
    reader = CommandReader(max_line=100)
    out = results(b"x1 LOGIN " + b"a" * 500, reader)
    assert out == [ParseError("x1", "line too long")]
    assert results(b"a" * 5000 + b"\r\nx2 NOOP\r\n", reader) == [c.Simple("x2", "NOOP")]


def test_long_line_byte_at_a_time() -> None:
    """The overlong-line path holds when CR and LF arrive in separate reads."""
    data = b"x1 " + b"b" * 300 + b"\r\nx2 NOOP\r\n"
    expected = [ParseError("x1", "line too long"), c.Simple("x2", "NOOP")]
    assert byte_at_a_time(data, CommandReader(max_line=100)) == expected


def test_complete_long_line_is_refused() -> None:
    """A complete line over max_line (arriving with its CRLF) is refused too."""
    out = results(b"t " + b"c" * 200 + b"\r\nu NOOP\r\n", CommandReader(max_line=100))
    assert out == [ParseError("t", "line too long"), c.Simple("u", "NOOP")]


def test_oversized_sync_literal_is_refused_without_continuation() -> None:
    """A {n} over max_literal gets a BAD instead of "+": the client never sends the octets."""
    reader = CommandReader(max_literal=10)
    assert results(b"a APPEND x {11}\r\nb NOOP\r\n", reader) == [
        ParseError("a", "literal too large"),
        c.Simple("b", "NOOP"),
    ]


def test_oversized_literal_plus_is_skipped() -> None:
    """A refused {n+} literal's octets and the rest of its command are skipped."""
    data = b"a APPEND x {20+}\r\n" + b"\r\n" * 10 + b" {3+}\r\nabc\r\nb NOOP\r\n"
    expected = [ParseError("a", "literal too large"), c.Simple("b", "NOOP")]
    assert results(data, CommandReader(max_literal=10)) == expected
    assert byte_at_a_time(data, CommandReader(max_literal=10)) == expected


def test_huge_refused_literal_is_not_buffered() -> None:
    """Skipping a 50 MB LITERAL+ keeps memory bounded (fed in 64 KiB reads)."""
    reader = CommandReader(max_literal=1024)
    chunk = b"z" * 65536
    tracemalloc.start()
    try:
        assert results(b"big APPEND x {52428800+}\r\n", reader) == [
            ParseError("big", "literal too large")
        ]
        for _ in range(800):
            reader.receive_data(chunk)
            assert reader.next_command() is NEED_DATA
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    assert results(b"\r\nok NOOP\r\n", reader) == [c.Simple("ok", "NOOP")]


def test_untagged_garbage_gets_untagged_bad() -> None:
    """A line with no valid tag is refused with tag None (answered `* BAD`)."""
    assert results(b"(bad\r\n") == [ParseError(None, "expected tag")]
    assert results(b"\r\n") == [ParseError(None, "expected tag")]


def test_idle_done() -> None:
    """After expect_done() the next line must be DONE; then commands resume."""
    reader = CommandReader()
    assert results(b"i IDLE\r\n", reader) == [c.Simple("i", "IDLE")]
    reader.expect_done()
    assert results(b"done\r\nn NOOP\r\n", reader) == [Done(), c.Simple("n", "NOOP")]
    reader.expect_done()
    assert results(b"n2 NOOP\r\n", reader) == [ParseError(None, "expected DONE")]


def test_sasl_lines() -> None:
    """After expect_sasl() the next line is a base64 response, "*" (cancel) or an error."""
    reader = CommandReader()
    reader.expect_sasl()
    assert results(b"AGEAYg==\r\n", reader) == [SaslResponse(b"\0a\0b")]
    reader.expect_sasl()
    assert results(b"*\r\n", reader) == [SaslResponse(None)]
    reader.expect_sasl()
    assert results(b"%%%\r\n", reader) == [ParseError(None, "bad base64")]


def test_eof() -> None:
    """receive_data(b"") ends the stream: Closed once nothing complete is left."""
    reader = CommandReader()
    reader.receive_data(b"a NOOP\r\nb NO")
    reader.receive_data(b"")
    assert drain_until_closed(reader) == [c.Simple("a", "NOOP"), Closed()]


def drain_until_closed(reader: CommandReader) -> list[object]:
    out: list[object] = []
    while not out or not isinstance(out[-1], Closed):
        out.append(reader.next_command())
    return out


def test_need_data_when_idle() -> None:
    """With nothing buffered the reader asks for data and keeps asking."""
    reader = CommandReader()
    assert reader.next_command() is NEED_DATA
    assert drain(reader) == []
