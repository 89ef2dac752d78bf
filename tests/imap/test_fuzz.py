"""Property tests: the reader never raises on hostile input, and encoding round-trips."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from roost.imap import CommandReader, NeedContinuation, ParseError, SequenceSet
from roost.imap import commands as c
from roost.imap.encode import encode_value
from roost.imap.grammar import Cursor, Value
from tests.imap.test_reader import PIPELINE
from tests.imap.util import byte_at_a_time, drain, results

TOKENS = [
    b"a ", b"UID ", b"FETCH ", b"SEARCH ", b"APPEND ", b"LOGIN ", b"{3}\r\n", b"{2+}\r\n",
    b"~{1+}\r\n", b"\r\n", b"(", b")", b'"', b"\\", b"1:*", b"BODY[", b"]", b"<0.1>", b" ",
    b"NIL", b"OR ", b"NOT ", b"{99999999999}\r\n", b"\0", b"\xff", b"DONE\r\n",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=8)), max_size=40),
    st.integers(1, 64),
    st.integers(0, 16),
)
def test_random_bytes_never_raise(parts: list[bytes], max_line: int, max_literal: int) -> None:
    """Arbitrary input only ever yields commands, ParseErrors or continuation requests."""
    data = b"".join(parts) or b"\r\n"  # b"" would mean EOF
    reader = CommandReader(max_line=max_line, max_literal=max_literal)
    reader.receive_data(data)
    out = drain(reader)
    assert all(isinstance(x, (ParseError, NeedContinuation, *c.Command.__args__)) for x in out)
    assert byte_at_a_time(data, CommandReader(max_line=max_line, max_literal=max_literal)) == out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, len(PIPELINE)), max_size=6))
def test_split_points(cuts: list[int]) -> None:
    """However the stream is cut into reads, the results are the same."""
    reader = CommandReader()
    out = []
    last = 0
    for cut in [*sorted(cuts), len(PIPELINE)]:
        if cut > last:  # an empty read would mean EOF
            reader.receive_data(PIPELINE[last:cut])
            out.extend(drain(reader))
        last = cut
    assert out == results(PIPELINE)


TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=30)
VALUES: st.SearchStrategy[Value] = st.recursive(
    st.one_of(st.none(), TEXT),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=12,
)


@given(VALUES, st.booleans())
def test_value_round_trip(value: Value, astring: bool) -> None:
    """encode_value then the argument parser gives back the same value."""
    cur = Cursor(encode_value(value, astring=astring) + b"\r\n")
    assert cur.value() == value
    assert cur.at_end()


@settings(deadline=None)
@given(TEXT, TEXT)
def test_login_round_trip_through_reader(user: str, password: str) -> None:
    """Encoded astrings survive the full reader, fed one byte at a time."""
    data = b"t LOGIN %s %s\r\n" % (
        encode_value(user, astring=True),
        encode_value(password, astring=True),
    )
    out = [x for x in byte_at_a_time(data) if not isinstance(x, NeedContinuation)]
    assert out == [c.Login("t", "LOGIN", user, password)]


RANGES = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(1, 2**32 - 1)),
        st.one_of(st.none(), st.integers(1, 2**32 - 1)),
    ),
    min_size=1,
    max_size=6,
)


@given(RANGES)
def test_sequence_set_text_round_trip(ranges: list[tuple[int | None, int | None]]) -> None:
    """Printing a sequence set and parsing it back gives the same set."""
    numbers = SequenceSet(tuple(ranges))
    assert SequenceSet.parse(str(numbers)).intervals(2**32 - 1) == numbers.intervals(2**32 - 1)
