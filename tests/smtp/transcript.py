"""A transcript DSL for driving the sans-I/O ServerConnection in tests (design rule 12)."""

from __future__ import annotations

from roost.smtp.events import (
    NEED_DATA,
    CommandError,
    Data,
    DataEnd,
    Ehlo,
    Event,
    MailFrom,
    MessageData,
    RcptTo,
    _NeedData,
)
from roost.smtp.reply import (
    C220_GREETING,
    C250_OK,
    C354_START_DATA,
    Reply,
)
from roost.smtp.server import ServerConnection, ServerOptions

CRLF = "\r\n"


def _b(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


class Transcript:
    """One server connection plus everything it wrote, driven line by line."""

    def __init__(self, options: ServerOptions | None = None, *, greet: bool = True) -> None:
        self.conn = ServerConnection(options or ServerOptions())
        self.out = b""
        if greet:
            self.out += self.conn.send(C220_GREETING)

    # --- raw driving -------------------------------------------------------------------------
    def client(self, data: str | bytes) -> None:
        """Bytes from the client, exactly as given."""
        self.conn.receive_data(_b(data))

    def next(self) -> Event | _NeedData:
        return self.conn.next_event()

    def event(self) -> Event:
        """The next event; fails on NEED_DATA."""
        ev = self.conn.next_event()
        assert ev is not NEED_DATA, "expected an event, got NEED_DATA"
        assert not isinstance(ev, _NeedData)
        return ev

    def expect_event(self, expected: Event) -> Event:
        ev = self.event()
        assert ev == expected, f"expected {expected!r}, got {ev!r}"
        return ev

    def expect_need_data(self) -> None:
        ev = self.conn.next_event()
        assert ev is NEED_DATA, f"expected NEED_DATA, got {ev!r}"

    def reply(self, reply: Reply) -> bytes:
        out = self.conn.send(reply)
        self.out += out
        return out

    # --- command level -----------------------------------------------------------------------
    def cmd(
        self,
        line: str | bytes,
        *,
        event: Event | None = None,
        reply: Reply = C250_OK,
        expect: Reply | None = None,
    ) -> Event:
        """Send one command line; check the event (or, with `expect`, the CommandError reply)."""
        self.client(_b(line) + b"\r\n")
        ev = self.event()
        if expect is not None:
            assert isinstance(ev, CommandError), f"expected CommandError({expect}), got {ev!r}"
            assert ev.reply == expect, f"expected {expect}, got {ev.reply}"
            self.reply(ev.reply)
            return ev
        if event is not None:
            assert ev == event, f"expected {event!r}, got {ev!r}"
        assert not isinstance(ev, CommandError), f"unexpected {ev!r}"
        self.reply(reply)
        return ev

    def ehlo(self, domain: str = "client.test") -> None:
        self.cmd(f"EHLO {domain}", event=Ehlo(domain, True), reply=Reply(250, "", "hi"))

    def mail(self, path: str = "<from@example.com>", params: str = "") -> None:
        line = f"MAIL FROM:{path}" + (f" {params}" if params else "")
        ev = self.cmd(line)
        assert isinstance(ev, MailFrom)

    def rcpt(self, path: str = "<to@example.net>") -> None:
        ev = self.cmd(f"RCPT TO:{path}")
        assert isinstance(ev, RcptTo)

    def transaction(self) -> None:
        """EHLO, MAIL and one accepted RCPT."""
        self.ehlo()
        self.mail()
        self.rcpt()

    def start_data(self) -> None:
        self.cmd("DATA", event=Data(), reply=C354_START_DATA)

    def collect(self) -> tuple[bytes, Event]:
        """Gather MessageData until another event; return (data, that event)."""
        parts = []
        while True:
            ev = self.event()
            if not isinstance(ev, MessageData):
                return b"".join(parts), ev
            assert ev.data, "MessageData must not be empty"
            parts.append(ev.data)

    def data(self, body: str | bytes) -> tuple[bytes, DataEnd]:
        """DATA + 354, feed `body` (which must hold the end marker), collect up to DataEnd."""
        self.start_data()
        self.client(body)
        data, end = self.collect()
        assert isinstance(end, DataEnd), f"expected DataEnd, got {end!r}"
        return data, end


def drive(conn: ServerConnection, data: bytes, chunks: list[int] | None = None) -> list[Event]:
    """Feed `data` (split at `chunks` sizes, or whole), answer every event with a fitting reply.

    Used by the split-point tests: the answers depend only on the event, so any split of the
    same input must give the same event list. MessageData is merged for comparison.
    """
    events: list[Event] = []
    pieces = _split(data, chunks)
    pieces.append(b"")
    for piece in pieces:
        conn.receive_data(piece)
        _drain(conn, events)
    return _merge(events)


def _split(data: bytes, chunks: list[int] | None) -> list[bytes]:
    if not chunks:
        return [data]
    out, pos = [], 0
    for size in chunks:
        if pos >= len(data):
            break
        out.append(data[pos : pos + size])
        pos += size
    if pos < len(data):
        out.append(data[pos:])
    return out


def _drain(conn: ServerConnection, events: list[Event]) -> None:
    from roost.smtp.events import Bdat, ConnectionClosed

    while True:
        ev = conn.next_event()
        if isinstance(ev, _NeedData):
            return
        if isinstance(ev, ConnectionClosed):
            if not (events and isinstance(events[-1], ConnectionClosed)):
                events.append(ev)
            return
        events.append(ev)
        if isinstance(ev, MessageData | Bdat):
            continue
        conn.send(auto_reply(ev))


def auto_reply(ev: Event) -> Reply:
    """A plausible session answer: accept everything, 354 to DATA, refuse errors as suggested."""
    from roost.smtp.events import Quit, StartTls
    from roost.smtp.reply import C221_BYE, C454_TLS_UNAVAILABLE

    if isinstance(ev, CommandError):
        return ev.reply
    if isinstance(ev, Data):
        return C354_START_DATA
    if isinstance(ev, Quit):
        return C221_BYE
    if isinstance(ev, StartTls):
        return C454_TLS_UNAVAILABLE  # keep reading plaintext so later input is exercised
    return C250_OK


def _merge(events: list[Event]) -> list[Event]:
    merged: list[Event] = []
    for ev in events:
        if isinstance(ev, MessageData) and merged and isinstance(merged[-1], MessageData):
            merged[-1] = MessageData(merged[-1].data + ev.data)
        else:
            merged.append(ev)
    return merged


CRLF_B = CRLF.encode()
__all__ = ["CRLF", "CRLF_B", "Transcript", "auto_reply", "drive"]
