"""Line limits, bounded memory and pipelining throughput."""

from __future__ import annotations

from roost.smtp.events import (
    CommandError,
    DataEnd,
    MessageData,
    Noop,
    RcptTo,
)
from roost.smtp.reply import C250_OK, C500_LINE_TOO_LONG
from roost.smtp.server import ServerOptions
from tests.smtp.transcript import Transcript

CHUNK = 65536
TEN_MB = 10 * 1024 * 1024


def test_command_line_at_limit_is_accepted() -> None:
    """A command of exactly max_command_line octets (with CRLF) is accepted."""
    t = Transcript(ServerOptions(max_command_line=64))
    t.cmd("NOOP " + "x" * (64 - 7), event=Noop())


def test_command_line_over_limit() -> None:
    """One octet over max_command_line is 500 5.5.2 Line too long; the next line works."""
    t = Transcript(ServerOptions(max_command_line=64))
    t.client("NOOP " + "x" * (64 - 6) + "\r\nNOOP\r\n")
    ev = t.event()
    assert ev == CommandError(C500_LINE_TOO_LONG, b"")
    t.reply(C500_LINE_TOO_LONG)
    t.expect_event(Noop())


def test_overlong_command_line_memory_is_bounded(t: Transcript) -> None:
    """A 10 MB command line never makes the buffer exceed max_command_line."""
    limit = ServerOptions().max_command_line
    fed = 0
    while fed < TEN_MB:
        t.client(b"A" * CHUNK)
        fed += CHUNK
        t.expect_need_data()
        assert t.conn.buffered_bytes <= limit + 1
    t.client("\r\nNOOP\r\n")
    ev = t.event()
    assert isinstance(ev, CommandError)
    assert ev.reply == C500_LINE_TOO_LONG
    t.reply(ev.reply)
    t.expect_event(Noop())


def test_overlong_line_crlf_split_across_receives(t: Transcript) -> None:
    """While skipping a long line, a CRLF split across receives still ends it."""
    t.client(b"B" * 20000 + b"\r")
    t.expect_need_data()
    t.client(b"\nNOOP\r\n")
    ev = t.event()
    assert isinstance(ev, CommandError)
    t.reply(ev.reply)
    t.expect_event(Noop())


def test_overlong_auth_response() -> None:
    """An overlong line inside a SASL exchange is refused and ends the exchange."""
    from roost.smtp import sasl
    from roost.smtp._state import State

    t = Transcript(ServerOptions(max_command_line=100))
    t.ehlo()
    t.cmd("AUTH PLAIN", reply=sasl.challenge_reply(b""))
    t.cmd("A" * 200, expect=C500_LINE_TOO_LONG)
    assert t.conn.state is State.READY


def test_ten_megabyte_data_line_is_streamed(t: Transcript) -> None:
    """A 10 MB DATA line is flushed as MessageData with bounded buffering and long_line set."""
    t.transaction()
    t.start_data()
    total = 0
    while total < TEN_MB:
        t.client(b"x" * CHUNK)
        ev = t.event()
        assert isinstance(ev, MessageData)
        total += len(ev.data)
        t.expect_need_data()
        assert t.conn.buffered_bytes <= 2
    t.client(b"\r\n.\r\n")
    data, end = t.collect()
    assert data == b"\r\n"
    assert end == DataEnd(long_line=True)


def test_ten_thousand_pipelined_rcpts_are_fast() -> None:
    """10,000 RCPT lines in one receive are all parsed, in order (linear, not quadratic)."""
    t = Transcript()
    t.ehlo()
    t.mail()
    t.client(b"".join(b"RCPT TO:<user%d@example.net>\r\n" % i for i in range(10_000)))
    for i in range(10_000):
        ev = t.event()
        assert ev == RcptTo(f"user{i}@example.net", {})
        t.reply(C250_OK)
    t.expect_need_data()


def test_big_message_throughput(t: Transcript) -> None:
    """A 20 MB dot-stuffed message arriving at once is framed in one MessageData."""
    t.transaction()
    t.start_data()
    line = b"." + b"y" * 70 + b"\r\n"
    count = 20 * 1024 * 1024 // len(line)
    t.client(line * count + b".\r\n")
    ev = t.event()
    assert ev == MessageData(line[1:] * count)
    t.expect_event(DataEnd())
