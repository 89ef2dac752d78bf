"""BDAT / CHUNKING (RFC 3030): raw chunks, LAST, refusals that still consume the bytes."""

from __future__ import annotations

import pytest

from roost.smtp._state import State
from roost.smtp.errors import LocalProtocolError
from roost.smtp.events import Bdat, ChunkEnd, CommandError, MessageData, Noop
from roost.smtp.reply import (
    C250_CHUNK_OK,
    C250_OK,
    C421_CANNOT_RESYNC,
    C501_BDAT_TOO_BIG,
    C501_SYNTAX,
    C503_BAD_SEQUENCE,
    C503_NO_RECIPIENTS,
    C552_TOO_BIG,
)
from tests.smtp.transcript import Transcript


@pytest.fixture
def tx(t: Transcript) -> Transcript:
    """A connection inside a transaction with one accepted recipient."""
    t.transaction()
    return t


def chunk(t: Transcript, size: int, payload: bytes, *, last: bool = False) -> bytes:
    """Send BDAT + payload; check Bdat, collect MessageData, check ChunkEnd; return the bytes."""
    t.client(f"BDAT {size}{' LAST' if last else ''}\r\n".encode() + payload)
    t.expect_event(Bdat(size, last))
    data, end = t.collect()
    assert end == ChunkEnd(last)
    return data


def test_single_last_chunk(tx: Transcript) -> None:
    """BDAT n LAST delivers exactly n raw bytes, then READY after the reply."""
    assert chunk(tx, 5, b"hello", last=True) == b"hello"
    tx.reply(C250_OK)
    assert tx.conn.state is State.READY
    assert not tx.conn.in_transaction


def test_bdat_zero_last(tx: Transcript) -> None:
    """BDAT 0 LAST is valid and ends the message."""
    assert chunk(tx, 5, b"hello") == b"hello"
    tx.reply(C250_CHUNK_OK)
    assert chunk(tx, 0, b"", last=True) == b""
    tx.reply(C250_OK)
    assert tx.conn.state is State.READY


def test_several_chunks(tx: Transcript) -> None:
    """Several chunks are delivered in order; CHUNKING between them."""
    parts = [b"Subject: x\r\n", b"\r\nbody ", b"more\r\n"]
    got = b""
    for i, part in enumerate(parts):
        got += chunk(tx, len(part), part, last=i == len(parts) - 1)
        tx.reply(C250_CHUNK_OK)
    assert got == b"".join(parts)
    assert tx.conn.state is State.READY


def test_chunk_bytes_that_look_like_commands(tx: Transcript) -> None:
    """Chunk bytes are never parsed: commands, dots and bare LFs are data."""
    payload = b"QUIT\r\n.\r\nRSET\n.\n\r\n..\r\n"
    assert chunk(tx, len(payload), payload, last=True) == payload
    tx.reply(C250_OK)
    tx.expect_need_data()


def test_chunk_arriving_in_pieces(tx: Transcript) -> None:
    """A chunk may arrive over many receives; each piece is MessageData."""
    tx.client("BDAT 10 LAST\r\nabc")
    tx.expect_event(Bdat(10, True))
    tx.expect_event(MessageData(b"abc"))
    tx.expect_need_data()
    tx.client("defghijNOOP\r\n")
    tx.expect_event(MessageData(b"defghij"))
    tx.expect_event(ChunkEnd(True))
    tx.reply(C250_OK)
    tx.expect_event(Noop())


def test_reply_to_bdat_before_chunk_end_is_misuse(tx: Transcript) -> None:
    """Answering BDAT before its ChunkEnd raises LocalProtocolError."""
    tx.client("BDAT 3\r\nab")
    tx.expect_event(Bdat(3, False))
    with pytest.raises(LocalProtocolError):
        tx.reply(C250_OK)


def test_refused_chunk_still_moves_on(tx: Transcript) -> None:
    """A 552 to a non-LAST chunk keeps CHUNKING; the client then sends RSET."""
    chunk(tx, 3, b"abc")
    tx.reply(C552_TOO_BIG)
    assert tx.conn.state is State.CHUNKING
    tx.cmd("RSET")
    assert tx.conn.state is State.READY


def test_refused_last_chunk_ends_transaction(tx: Transcript) -> None:
    """Any reply to the LAST chunk ends the transaction."""
    chunk(tx, 3, b"abc", last=True)
    tx.reply(C552_TOO_BIG)
    assert tx.conn.state is State.READY


def test_rcpt_after_bdat_is_bad_sequence(tx: Transcript) -> None:
    """RCPT once chunks have started is 503."""
    chunk(tx, 1, b"a")
    tx.reply(C250_OK)
    tx.cmd("RCPT TO:<x@y.example>", expect=C503_BAD_SEQUENCE)


def test_bdat_without_recipient_discards_chunk(t: Transcript) -> None:
    """An out-of-sequence BDAT is refused, and its bytes are read and dropped, not parsed."""
    t.ehlo()
    t.mail()
    t.client("BDAT 6\r\nQUIT\r\nNOOP\r\n")
    ev = t.event()
    assert ev == CommandError(C503_NO_RECIPIENTS, b"BDAT 6")
    t.reply(ev.reply)  # type: ignore[union-attr]
    t.expect_event(Noop())


def test_bdat_before_mail_discards_chunk_in_pieces(t: Transcript) -> None:
    """A refused chunk is skipped even when it arrives in several receives."""
    t.ehlo()
    t.client("BDAT 10 LAST\r\nQUI")
    ev = t.event()
    assert isinstance(ev, CommandError)
    t.reply(ev.reply)
    t.expect_need_data()
    t.client("T\r\nRSETNOOP\r\n")
    t.expect_event(Noop())


@pytest.mark.parametrize("line", ["BDAT", "BDAT x", "BDAT -1", "BDAT 5 FIRST", "BDAT 5 LAST x"])
def test_bdat_syntax(tx: Transcript, line: str) -> None:
    """Malformed BDAT is 501 5.5.4."""
    tx.cmd(line, expect=C501_SYNTAX.with_text("Syntax: BDAT <size> [LAST]"))


def test_bdat_case_insensitive_last(tx: Transcript) -> None:
    """ "last" is accepted in any case."""
    assert chunk(tx, 1, b"x", last=True) == b"x"
    tx.reply(C250_OK)
    tx.mail()
    tx.rcpt()
    tx.client("bdat 1 last\r\ny")
    tx.expect_event(Bdat(1, True))


def test_huge_bdat_closes(tx: Transcript) -> None:
    """A BDAT over 2**31 bytes gets 501, then 421: the stream cannot resync."""
    tx.client(f"BDAT {2**31 + 1}\r\nxxxx")
    ev = tx.event()
    assert isinstance(ev, CommandError)
    assert ev.reply == C501_BDAT_TOO_BIG
    out = tx.reply(ev.reply)
    assert out == C501_BDAT_TOO_BIG.format() + C421_CANNOT_RESYNC.format()
    assert tx.conn.wants_close
    assert tx.conn.state is State.CLOSED


def test_absurd_digit_count_closes(tx: Transcript) -> None:
    """A 40-digit size is treated as too large, not parsed into a huge int."""
    tx.client("BDAT " + "9" * 40 + "\r\n")
    ev = tx.event()
    assert isinstance(ev, CommandError)
    assert ev.reply == C501_BDAT_TOO_BIG


def test_eof_mid_chunk(tx: Transcript) -> None:
    """EOF inside a chunk delivers what arrived, then ConnectionClosed."""
    from roost.smtp.events import ConnectionClosed

    tx.client("BDAT 10\r\nabc")
    tx.client(b"")
    tx.expect_event(Bdat(10, False))
    data, end = tx.collect()
    assert data == b"abc"
    assert end == ConnectionClosed()
