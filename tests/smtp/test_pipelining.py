"""PIPELINING (RFC 2920): many commands in one receive come out in order, one at a time."""

from __future__ import annotations

from roost.smtp.events import (
    Bdat,
    ChunkEnd,
    Data,
    DataEnd,
    Ehlo,
    MailFrom,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    Rset,
)
from roost.smtp.server import ServerConnection
from tests.smtp.transcript import Transcript, drive


def test_whole_session_in_one_buffer() -> None:
    """A complete pipelined session yields every event in order."""
    wire = (
        b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
        b"RCPT TO:<e@f.example>\r\nDATA\r\nhello\r\n..dot\r\n.\r\n"
        b"MAIL FROM:<>\r\nRCPT TO:<g@h.example>\r\nBDAT 4 LAST\r\nabcdRSET\r\nNOOP\r\nQUIT\r\n"
    )
    from roost.smtp.events import ConnectionClosed

    assert drive(ServerConnection(), wire) == [
        Ehlo("c.example", True),
        MailFrom("a@b.example", {}),
        RcptTo("c@d.example", {}),
        RcptTo("e@f.example", {}),
        Data(),
        MessageData(b"hello\r\n.dot\r\n"),
        DataEnd(),
        MailFrom("", {}),
        RcptTo("g@h.example", {}),
        Bdat(4, True),
        MessageData(b"abcd"),
        ChunkEnd(True),
        Rset(),
        Noop(),
        Quit(),
        ConnectionClosed(),
    ]


def test_refused_rcpt_in_pipeline_makes_data_fail(t: Transcript) -> None:
    """With every RCPT refused, a pipelined DATA is refused and its body read as commands."""
    from roost.smtp.events import CommandError
    from roost.smtp.reply import C503_NO_RECIPIENTS, C550_NO_SUCH_USER

    t.ehlo()
    t.mail()
    t.client("RCPT TO:<x@y.example>\r\nDATA\r\nNOOP\r\n")
    t.event()
    t.reply(C550_NO_SUCH_USER)
    ev = t.event()
    assert ev == CommandError(C503_NO_RECIPIENTS, b"DATA")
    t.reply(C503_NO_RECIPIENTS)
    t.expect_event(Noop())
