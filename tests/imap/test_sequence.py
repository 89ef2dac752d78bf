"""Sequence sets (RFC 9051 §9) and modified UTF-7 mailbox names (RFC 3501 §5.1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost.imap import MUtf7Error, SequenceSet, SequenceSetError, decode_mutf7, encode_mutf7


@pytest.mark.parametrize(
    ("text", "largest", "expected"),
    [
        ("1:5,7,*", 10, [1, 2, 3, 4, 5, 7, 10]),
        ("5:3", 10, [3, 4, 5]),
        ("*:4", 6, [4, 5, 6]),
        ("*", 0, []),
        ("1:4294967295", 3, [1, 2, 3]),
        ("2,2,1:3", 9, [1, 2, 3]),
        ("8:12", 10, [8, 9, 10]),
    ],
)
def test_iteration_is_bounded_and_sorted(text: str, largest: int, expected: list[int]) -> None:
    """Iteration resolves `*`, orders reversed ranges and never passes the given maximum."""
    assert list(SequenceSet.parse(text).iter(largest)) == expected


def test_contains() -> None:
    """contains(n, max) treats `*` as max, and a number past max still matches `n:*`."""
    numbers = SequenceSet.parse("1:3,10:*")
    assert numbers.contains(2, 5)
    assert not numbers.contains(4, 5)
    assert numbers.contains(5, 5)
    assert numbers.contains(12, 12)
    assert SequenceSet.parse("*").contains(7, 7)


@pytest.mark.parametrize("text", ["", "0", "1:", ",1", "1,,2", "a", "4294967296", "1:0", "$,1"])
def test_bad_sets_are_refused(text: str) -> None:
    """Zero, empty parts and out-of-range numbers are not sequence sets."""
    with pytest.raises(SequenceSetError):
        SequenceSet.parse(text)


def test_saved_result() -> None:
    """RFC 5182 `$` parses as the saved search result and cannot be iterated unresolved."""
    saved = SequenceSet.parse("$")
    assert saved.saved
    assert str(saved) == "$"
    with pytest.raises(ValueError):
        list(saved.iter(5))


@pytest.mark.parametrize(
    ("numbers", "text"),
    [([1, 2, 3, 5], "1:3,5"), ([7], "7"), ([3, 1, 2, 2], "1:3"), ([1, 3, 5], "1,3,5"), ([], "")],
)
def test_compaction(numbers: list[int], text: str) -> None:
    """from_numbers builds the shortest range form."""
    assert str(SequenceSet.from_numbers(numbers)) == text


@given(st.sets(st.integers(1, 300)))
def test_compaction_round_trip(numbers: set[int]) -> None:
    """Compacting, printing, parsing and iterating gives back the same numbers."""
    if not numbers:
        return
    text = str(SequenceSet.from_numbers(numbers))
    assert list(SequenceSet.parse(text).iter(300)) == sorted(numbers)


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("~peter/mail/日本語/台北", "~peter/mail/&ZeVnLIqe-/&U,BTFw-"),  # RFC 3501 §5.1.3
        ("A&B", "A&-B"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("INBOX", "INBOX"),
        ("😀", "&2D3eAA-"),
    ],
)
def test_mutf7(name: str, encoded: str) -> None:
    """Encoding matches the RFC example and decoding reverses it."""
    assert encode_mutf7(name) == encoded
    assert decode_mutf7(encoded) == name


@pytest.mark.parametrize("bad", ["&", "&Jjo", "&AGE-", "&Jjo!-", "é"])
def test_mutf7_malformed(bad: str) -> None:
    """Unterminated shifts, encoded ASCII, bad base64 and raw 8-bit are refused."""
    with pytest.raises(MUtf7Error):
        decode_mutf7(bad)


@given(st.text(st.characters(exclude_categories=["Cs"])))
def test_mutf7_round_trip(name: str) -> None:
    """Any Unicode name survives encode then decode."""
    assert decode_mutf7(encode_mutf7(name)) == name
