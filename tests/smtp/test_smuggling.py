"""SMTP smuggling regressions: only CRLF "." CRLF ends DATA (CVE-2023-51764/51765/51766).

Each fake end-of-data variant is followed by a complete second transaction; the server must
treat everything up to the real CRLF.CRLF as one message and flag the bare line ending.
"""

from __future__ import annotations

import pytest

from roost.smtp.events import DataEnd, MailFrom, MessageData
from roost.smtp.reply import C250_OK
from tests.smtp.transcript import Transcript, drive

SMUGGLED = (
    b"MAIL FROM:<admin@bank.example>\r\n"
    b"RCPT TO:<victim@example.net>\r\n"
    b"DATA\r\n"
    b"From: admin@bank.example\r\n\r\nsmuggled\r\n"
)
FAKE_ENDS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\n.\r"]


@pytest.mark.parametrize("fake", FAKE_ENDS, ids=lambda b: repr(b))
def test_fake_end_of_data_is_data(t: Transcript, fake: bytes) -> None:
    """A bare-CR/LF "end of data" is data; the whole input is one flagged message."""
    t.transaction()
    body = b"Subject: hi\r\n\r\nfirst" + fake + SMUGGLED + b".\r\n"
    data, end = t.data(body)
    expected = (b"Subject: hi\r\n\r\nfirst" + fake + SMUGGLED).replace(b"\r\n.", b"\r\n")
    assert data == expected
    assert end == DataEnd(bare_line_ending=True)
    t.reply(C250_OK)
    t.expect_need_data()


@pytest.mark.parametrize("fake", FAKE_ENDS, ids=lambda b: repr(b))
def test_fake_end_byte_at_a_time(fake: bytes) -> None:
    """Byte-at-a-time delivery of a smuggling attempt gives the same single message."""
    from roost.smtp.server import ServerConnection

    wire = (
        b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
        b"first" + fake + SMUGGLED + b".\r\nQUIT\r\n"
    )
    whole = drive(ServerConnection(), wire)
    split = drive(ServerConnection(), wire, [1] * len(wire))
    assert whole == split
    assert sum(isinstance(e, DataEnd) for e in whole) == 1
    assert sum(isinstance(e, MailFrom) for e in whole) == 1


def test_real_end_then_pipelined_transaction(t: Transcript) -> None:
    """A genuine CRLF.CRLF followed by a second transaction is two messages."""
    t.transaction()
    t.start_data()
    t.client(b"first\r\n.\r\n" + SMUGGLED + b".\r\n")
    data, end = t.collect()
    assert data == b"first\r\n"
    assert end == DataEnd()
    t.reply(C250_OK)
    t.expect_event(MailFrom("admin@bank.example", {}))


def test_lf_dot_lf_alone_does_not_end(t: Transcript) -> None:
    """ "\\n.\\n" right after the 354 does not end the data."""
    t.transaction()
    t.start_data()
    t.client(b"\n.\n")
    first = t.event()
    t.expect_need_data()
    t.client(b"\r\n.\r\n")
    data, end = t.collect()
    assert first == MessageData(b"\n.\n")
    assert data == b"\r\n"
    assert end == DataEnd(bare_line_ending=True)


def test_dot_cr_at_line_start_is_data(t: Transcript) -> None:
    """A "." followed by a bare CR at the start of a line is data, not an end."""
    t.transaction()
    data, end = t.data(b"a\r\n.\rMAIL\r\n.\r\n")
    assert data == b"a\r\n\rMAIL\r\n"
    assert end.bare_line_ending
