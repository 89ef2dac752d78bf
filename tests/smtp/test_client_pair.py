"""Pair tests: Roost's ClientConnection talking to Roost's ServerConnection, no sockets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from roost.smtp import reply as r
from roost.smtp.client import ClientConnection, ServerReply, read_ehlo
from roost.smtp.client_body import received_form
from roost.smtp.events import (
    NEED_DATA,
    Bdat,
    ChunkEnd,
    CommandError,
    ConnectionClosed,
    Data,
    DataEnd,
    Ehlo,
    Event,
    MailFrom,
    MessageData,
    Quit,
)
from roost.smtp.extensions import ehlo_lines
from roost.smtp.server import ServerConnection


class Pair:
    """Moves bytes between the two connections; the server accepts everything."""

    def __init__(self) -> None:
        self.client = ClientConnection()
        self.server = ServerConnection()
        self.received = b""
        self.events: list[Event] = []
        self._to_client(self.server.send(r.C220_GREETING))

    def _to_client(self, data: bytes) -> None:
        self.client.receive_data(data)

    def send(self, data: bytes) -> list[ServerReply]:
        """Client bytes to the server; answer every event; return the client's replies."""
        self.server.receive_data(data)
        while (event := self.server.next_event()) is not NEED_DATA:
            if isinstance(event, ConnectionClosed):
                break
            assert not isinstance(event, CommandError), event
            self.events.append(event)  # type: ignore[arg-type]
            if isinstance(event, MessageData):
                self.received += event.data
            elif not isinstance(event, Bdat):
                self._to_client(self.server.send(self._answer(event)))  # type: ignore[arg-type]
        replies = []
        while isinstance(reply := self.client.next_event(), ServerReply):
            replies.append(reply)
        return replies

    @staticmethod
    def _answer(event: Event) -> r.Reply:
        if isinstance(event, Ehlo):
            return ehlo_lines(
                "mx.test",
                "hi",
                size=1000,
                starttls=False,
                auth_mechanisms=(),
                chunking=True,
                smtputf8=True,
                dsn=True,
            )
        if isinstance(event, Data):
            return r.C354_START_DATA
        if isinstance(event, Quit):
            return r.C221_BYE
        return r.C250_OK

    def greet(self) -> None:
        assert self.client.next_event() == ServerReply(220, "", ("ESMTP ready",), "GREETING")
        (ehlo,) = self.send(self.client.ehlo("client.test"))
        assert read_ehlo(ehlo).chunking

    def data_transaction(self, body: bytes) -> None:
        c = self.client
        replies = self.send(c.mail("a@example.com", {"SIZE": "5"}) + c.rcpt("b@example.net"))
        assert [x.code for x in replies] == [250, 250]
        (go,) = self.send(c.data())
        assert go.code == 354
        (done,) = self.send(c.message(body))
        assert (done.code, done.command) == (250, "DATA-END")


def test_pair_full_session() -> None:
    """EHLO, a pipelined envelope, DATA, QUIT: every reply reaches the right command."""
    pair = Pair()
    pair.greet()
    pair.data_transaction(b"Subject: hi\r\n\r\n.leading dot\r\n")
    assert pair.received == b"Subject: hi\r\n\r\n.leading dot\r\n"
    assert any(isinstance(e, MailFrom) and e.params == {"SIZE": "5"} for e in pair.events)
    end = [e for e in pair.events if isinstance(e, DataEnd)]
    assert end == [DataEnd()], "no bare line ending, long line or NUL reached the server"
    (bye,) = pair.send(pair.client.quit())
    assert bye.code == 221


def test_pair_bdat() -> None:
    """BDAT chunks arrive byte-exact and each gets its own 250."""
    pair = Pair()
    pair.greet()
    c = pair.client
    pair.send(c.mail("a@example.com") + c.rcpt("b@example.net"))
    (first,) = pair.send(c.bdat(b"Subject: x\r\n", last=False))
    (last,) = pair.send(c.bdat(b"\r\nbody\r\n", last=True))
    assert (first.code, last.code) == (250, 250)
    assert pair.received == b"Subject: x\r\n\r\nbody\r\n"
    assert ChunkEnd(last=True) in pair.events


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bodies_survive_the_round_trip(body: bytes) -> None:
    """Any body reaches our server byte-identical to its CRLF-normalised form, never flagged."""
    pair = Pair()
    pair.greet()
    pair.data_transaction(body)
    assert pair.received == received_form(body)
    end = [e for e in pair.events if isinstance(e, DataEnd)]
    assert len(end) == 1
    assert not end[0].bare_line_ending


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"x", b".\r\n"]), max_size=40))
def test_smuggling_shaped_bodies_end_exactly_once(parts: list[bytes]) -> None:
    """Bodies built from dots and line endings never end the data early (one DataEnd)."""
    body = b"".join(parts)
    pair = Pair()
    pair.greet()
    pair.data_transaction(body)
    assert pair.received == received_form(body)
    assert sum(isinstance(e, DataEnd) for e in pair.events) == 1
