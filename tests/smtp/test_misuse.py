"""LocalProtocolError: the connection refuses to be misused by its caller."""

from __future__ import annotations

import pytest

from roost.smtp.errors import LocalProtocolError
from roost.smtp.events import Noop
from roost.smtp.reply import C221_BYE, C250_OK, C354_START_DATA, Reply
from roost.smtp.server import ServerConnection
from tests.smtp.transcript import Transcript


def test_reply_without_event(t: Transcript) -> None:
    """A second reply with no event pending is misuse."""
    with pytest.raises(LocalProtocolError):
        t.reply(C250_OK)


def test_next_event_before_reply(t: Transcript) -> None:
    """Reading the next command before answering the previous one is misuse."""
    t.client("NOOP\r\nNOOP\r\n")
    t.expect_event(Noop())
    with pytest.raises(LocalProtocolError):
        t.next()


def test_354_to_a_command_other_than_data(t: Transcript) -> None:
    """An intermediate reply that makes no sense for the command is misuse."""
    t.client("NOOP\r\n")
    t.event()
    with pytest.raises(LocalProtocolError):
        t.reply(C354_START_DATA)


def test_invalid_code(t: Transcript) -> None:
    """Reply codes outside 200-599 are misuse."""
    t.client("NOOP\r\n")
    t.event()
    with pytest.raises(LocalProtocolError):
        t.reply(Reply(199, "", "x"))


def test_send_after_close(t: Transcript) -> None:
    """Sending after the connection closed is misuse."""
    t.client("QUIT\r\n")
    t.event()
    t.reply(C221_BYE)
    with pytest.raises(LocalProtocolError):
        t.reply(C250_OK)


def test_data_after_eof() -> None:
    """receive_data with bytes after EOF is misuse; a second EOF is harmless."""
    conn = ServerConnection()
    conn.receive_data(b"")
    conn.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"x")


def test_greeting_through_send_is_optional() -> None:
    """The adapter may write the greeting itself; the first send then answers the event."""
    conn = ServerConnection()
    conn.receive_data(b"NOOP\r\n")
    assert conn.next_event() == Noop()
    assert conn.send(C250_OK) == b"250 2.0.0 OK\r\n"
