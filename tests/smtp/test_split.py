"""Property tests: any split of the input gives the same events; garbage never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roost.smtp.events import ChunkEnd, DataEnd, Event, MessageData
from roost.smtp.server import ServerConnection
from tests.smtp.transcript import drive

line_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
lines = st.lists(
    st.one_of(line_bytes, line_bytes.map(lambda b: b"." + b), st.just(b"."), st.just(b"..")),
    max_size=12,
)


def stuff(message_lines: list[bytes]) -> bytes:
    """Dot-stuff lines for the wire (RFC 5321 §4.5.2)."""
    return b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n" for ln in message_lines)


def transcript(messages: list[list[bytes]], chunks: list[bytes]) -> bytes:
    wire = b"EHLO client.test\r\n"
    for message in messages:
        wire += b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
        wire += stuff(message) + b".\r\n"
    for i, chunk in enumerate(chunks):
        wire += b"MAIL FROM:<>\r\nRCPT TO:<e@f.example>\r\n" if i == 0 else b""
        last = i == len(chunks) - 1
        wire += b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") + chunk
    return wire + b"QUIT\r\n"


@st.composite
def split_points(draw: st.DrawFn, size: int) -> list[int]:
    return draw(st.lists(st.integers(min_value=1, max_value=max(1, size)), max_size=20))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(lines, max_size=3),
    chunks=st.lists(st.binary(max_size=30), max_size=3),
    data=st.data(),
)
def test_any_split_gives_same_events(
    messages: list[list[bytes]], chunks: list[bytes], data: st.DataObject
) -> None:
    """Feeding a valid transcript whole, split anywhere, or byte by byte gives the same events."""
    wire = transcript(messages, chunks)
    whole = drive(ServerConnection(), wire)
    points = data.draw(split_points(len(wire)))
    assert drive(ServerConnection(), wire, points) == whole
    assert drive(ServerConnection(), wire, [1] * len(wire)) == whole
    assert bodies(whole) == [b"".join(ln + b"\r\n" for ln in m) for m in messages] + (
        [b"".join(chunks)] if chunks else []
    )


def bodies(events: list[Event]) -> list[bytes]:
    """Reassemble each message: MessageData up to DataEnd, or up to ChunkEnd(last=True)."""
    out: list[bytes] = []
    current = b""
    for ev in events:
        if isinstance(ev, MessageData):
            current += ev.data
        elif isinstance(ev, DataEnd) or (isinstance(ev, ChunkEnd) and ev.last):
            out.append(current)
            current = b""
    return out


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_garbage_never_raises(pieces: list[bytes]) -> None:
    """Random bytes only ever produce events or NEED_DATA, never an exception."""
    conn = ServerConnection()
    drive(conn, b"".join(pieces), [len(p) for p in pieces if p])


alphabet = st.sampled_from(
    [
        b"EHLO x\r\n",
        b"MAIL FROM:<a@b.c>\r\n",
        b"RCPT TO:<d@e.f>\r\n",
        b"DATA\r\n",
        b".\r\n",
        b"\r\n",
        b"\n",
        b"\r",
        b".",
        b"BDAT 3\r\n",
        b"BDAT 0 LAST\r\n",
        b"AUTH PLAIN\r\n",
        b"*\r\n",
        b"STARTTLS\r\n",
        b"RSET\r\n",
        b"QUIT\r\n",
        b"x",
        b"\0",
        b"AUTH LOGIN\r\n",
        b"=\r\n",
    ]
)


@settings(max_examples=300)
@given(st.lists(alphabet, max_size=30), st.data())
def test_command_soup_is_split_invariant(tokens: list[bytes], data: st.DataObject) -> None:
    """Random sequences of protocol fragments give the same events for any split."""
    wire = b"".join(tokens)
    whole = drive(ServerConnection(), wire)
    points = data.draw(split_points(len(wire)))
    assert drive(ServerConnection(), wire, points) == whole
