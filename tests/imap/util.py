"""Helpers that drive the sans-I/O IMAP reader the way a server loop would."""

from __future__ import annotations

from roost.imap import NEED_DATA, Closed, CommandReader, Result
from roost.imap.commands import Command
from roost.imap.parser import parse_command


def results(data: bytes, reader: CommandReader | None = None) -> list[Result]:
    """Feed `data` in one go and collect every result up to NEED_DATA."""
    reader = reader or CommandReader()
    reader.receive_data(data)
    return drain(reader)


def drain(reader: CommandReader) -> list[Result]:
    out: list[Result] = []
    while (result := reader.next_command()) is not NEED_DATA:
        out.append(result)
        if isinstance(result, Closed):  # repeated on every call after EOF
            break
    return out


def byte_at_a_time(data: bytes, reader: CommandReader | None = None) -> list[Result]:
    """Feed `data` one octet at a time, collecting results after every octet."""
    reader = reader or CommandReader()
    out: list[Result] = []
    for i in range(len(data)):
        reader.receive_data(data[i : i + 1])
        out.extend(drain(reader))
    return out


def cmd(line: str | bytes) -> Command:
    """Parse one command line (CRLF added), as the reader would after framing."""
    raw = line.encode() if isinstance(line, str) else line
    return parse_command(raw + b"\r\n")
