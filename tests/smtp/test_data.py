"""DATA framing: dot-unstuffing, the end marker and the DataEnd flags (RFC 5321 §4.5.2)."""

from __future__ import annotations

import pytest

from roost.smtp._state import State
from roost.smtp.events import DataEnd, MailFrom, MessageData, RcptTo
from roost.smtp.reply import C250_OK
from roost.smtp.server import ServerOptions
from tests.smtp.transcript import Transcript


@pytest.fixture
def tx(t: Transcript) -> Transcript:
    """A connection inside a transaction with one accepted recipient."""
    t.transaction()
    return t


def test_simple_message(tx: Transcript) -> None:
    """The message keeps the CRLF before the final dot; the marker is not part of it."""
    data, end = tx.data("line1\r\nline2\r\n.\r\n")
    assert data == b"line1\r\nline2\r\n"
    assert end == DataEnd()


def test_empty_message(tx: Transcript) -> None:
    """A "." straight after the 354 ends an empty message."""
    data, end = tx.data(".\r\n")
    assert data == b""
    assert end == DataEnd()


def test_message_of_one_empty_line(tx: Transcript) -> None:
    """CRLF then the end marker is a message of one empty line."""
    data, _ = tx.data("\r\n.\r\n")
    assert data == b"\r\n"


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"..\r\n.\r\n", b".\r\n"),
        (b"...\r\n.\r\n", b"..\r\n"),
        (b"a\r\n..b\r\n.\r\n", b"a\r\n.b\r\n"),
        (b"a\r\n.b\r\n.\r\n", b"a\r\nb\r\n"),  # lenient: an unstuffed dot is still removed
        (b"a.\r\n.\r\n", b"a.\r\n"),
        (b"a\r\n..\r\n..\r\n.\r\n", b"a\r\n.\r\n.\r\n"),
        (b".x\r\n.\r\n", b"x\r\n"),
    ],
)
def test_dot_unstuffing(tx: Transcript, wire: bytes, message: bytes) -> None:
    """A leading dot is removed from every line (RFC 5321 §4.5.2)."""
    data, end = tx.data(wire)
    assert data == message
    assert end == DataEnd()


def test_commands_after_data_are_commands(tx: Transcript) -> None:
    """Bytes pipelined after the end marker are read as commands."""
    tx.start_data()
    tx.client("body\r\n.\r\nMAIL FROM:<n@x.example>\r\n")
    data, end = tx.collect()
    assert data == b"body\r\n"
    assert isinstance(end, DataEnd)
    tx.reply(C250_OK)
    tx.expect_event(MailFrom("n@x.example", {}))


def test_data_batched_into_few_events(tx: Transcript) -> None:
    """Many lines received at once come out as one MessageData event."""
    body = b"".join(b"line %d\r\n" % i for i in range(1000))
    tx.start_data()
    tx.client(body + b".\r\n")
    events = []
    while not isinstance(ev := tx.event(), DataEnd):
        events.append(ev)
    assert len(events) == 1
    assert events[0] == MessageData(body)


def test_marker_split_across_receives(tx: Transcript) -> None:
    """The end marker is found even when it arrives one byte at a time."""
    tx.start_data()
    for byte in b"abc\r\n.\r\n":
        tx.client(bytes([byte]))
    data, end = tx.collect()
    assert data == b"abc\r\n"
    assert isinstance(end, DataEnd)


def test_waits_for_possible_marker(tx: Transcript) -> None:
    """A trailing CRLF "." is held back until the next bytes decide it."""
    tx.start_data()
    tx.client("abc\r\n.")
    assert tx.event() == MessageData(b"abc\r\n")
    tx.expect_need_data()
    tx.client("x\r\n.\r\n")
    data, end = tx.collect()
    assert data == b"x\r\n"
    assert isinstance(end, DataEnd)


def test_bare_lf_flag(tx: Transcript) -> None:
    """A bare LF in the message sets bare_line_ending and stays in the data."""
    data, end = tx.data("a\nb\r\n.\r\n")
    assert data == b"a\nb\r\n"
    assert end == DataEnd(bare_line_ending=True)


def test_bare_cr_flag(tx: Transcript) -> None:
    """A bare CR in the message sets bare_line_ending."""
    data, end = tx.data("a\rb\r\n.\r\n")
    assert data == b"a\rb\r\n"
    assert end.bare_line_ending


def test_bare_cr_at_receive_boundary(tx: Transcript) -> None:
    """A CR at the end of one receive followed by a non-LF is still a bare CR."""
    tx.start_data()
    tx.client("a\r")
    tx.client("b\r\n.\r\n")
    data, end = tx.collect()
    assert data == b"a\rb\r\n"
    assert isinstance(end, DataEnd)
    assert end.bare_line_ending


def test_crlf_split_across_receives_is_not_bare(tx: Transcript) -> None:
    """A CRLF split between two receives is an ordinary line end."""
    tx.start_data()
    tx.client("a\r")
    tx.client("\nb\r\n.\r\n")
    data, end = tx.collect()
    assert data == b"a\r\nb\r\n"
    assert end == DataEnd()


def test_nul_flag(tx: Transcript) -> None:
    """A NUL octet sets DataEnd.nul and is delivered as is."""
    data, end = tx.data(b"a\0b\r\n.\r\n")
    assert data == b"a\0b\r\n"
    assert end == DataEnd(nul=True)


def test_long_line_flag(tx: Transcript) -> None:
    """A line over max_data_line (incl. CRLF) sets long_line; the data is still delivered."""
    line = b"x" * 999
    data, end = tx.data(line + b"\r\n.\r\n")
    assert data == line + b"\r\n"
    assert end == DataEnd(long_line=True)


def test_line_at_limit_is_fine(tx: Transcript) -> None:
    """A line of exactly 1000 octets including CRLF is allowed (RFC 5321 §4.5.3.1.6)."""
    _, end = tx.data(b"x" * 998 + b"\r\n.\r\n")
    assert end == DataEnd()


def test_long_line_counted_across_receives(tx: Transcript) -> None:
    """A long line arriving in small pieces is still detected."""
    tx.start_data()
    for _ in range(20):
        tx.client(b"y" * 60)
        tx.next()
    tx.client(b"\r\n.\r\n")
    _, end = tx.collect()
    assert end == DataEnd(long_line=True)


def test_stuffed_dot_counts_toward_line_length() -> None:
    """The limit applies to the line as sent, dot included."""
    t = Transcript(ServerOptions(max_data_line=10))
    t.transaction()
    _, end = t.data(b"." + b"x" * 7 + b"\r\n.\r\n")
    assert end == DataEnd()
    t.reply(C250_OK)
    t.mail()
    t.rcpt()
    _, end = t.data(b".." + b"x" * 7 + b"\r\n.\r\n")
    assert end == DataEnd(long_line=True)


def test_flags_reset_between_messages(tx: Transcript) -> None:
    """Flags of one message do not leak into the next."""
    _, end = tx.data(b"a\nb\0\r\n.\r\n")
    assert end == DataEnd(bare_line_ending=True, nul=True)
    tx.reply(C250_OK)
    tx.mail()
    tx.rcpt()
    _, end = tx.data("clean\r\n.\r\n")
    assert end == DataEnd()


def test_second_transaction_after_data(tx: Transcript) -> None:
    """After DataEnd is answered, a new MAIL starts a new transaction."""
    tx.data("x\r\n.\r\n")
    tx.reply(C250_OK)
    assert tx.conn.state is State.READY
    tx.cmd("MAIL FROM:<a@b.example>", event=MailFrom("a@b.example", {}))
    tx.cmd("RCPT TO:<c@d.example>", event=RcptTo("c@d.example", {}))


def test_data_refused_stays_in_rcpt(tx: Transcript) -> None:
    """A 5xx to DATA does not enter data mode: following lines are commands."""
    from roost.smtp.reply import C554_TRANSACTION_FAILED

    tx.cmd("DATA", reply=C554_TRANSACTION_FAILED)
    assert tx.conn.state is State.RCPT
    tx.cmd("RSET")
