"""IMAP sequence sets (RFC 9051 §9 `sequence-set`, RFC 5182 `$` for SEARCHRES).

A set is a tuple of ranges; `*` (the largest number in use) is stored as `None` and only
resolved against a mailbox size when asked, so the same parsed set works for any mailbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MAX_NUMBER = 2**32 - 1  # RFC 9051 §9: nz-number is a 32-bit unsigned value
_PART = re.compile(rb"(\*|[1-9][0-9]{0,9})(?::(\*|[1-9][0-9]{0,9}))?\Z")

Bound = int | None  # None is "*"


class SequenceSetError(ValueError):
    """The text is not a valid sequence set."""


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """Ranges of message numbers or UIDs; `saved` is RFC 5182's `$` (the last SEARCH SAVE)."""

    ranges: tuple[tuple[Bound, Bound], ...] = ()
    saved: bool = False

    @classmethod
    def parse(cls, text: str | bytes) -> SequenceSet:
        """Parse `1:5,7,*` or `$`; raise SequenceSetError on anything else."""
        raw = text.encode("ascii", "replace") if isinstance(text, str) else text
        if raw == b"$":
            return cls(saved=True)
        ranges = [_parse_part(part) for part in raw.split(b",")]
        return cls(tuple(ranges))

    @classmethod
    def from_numbers(cls, numbers: Iterable[int]) -> SequenceSet:
        """The most compact set holding exactly `numbers` (1,2,3,5 -> 1:3,5)."""
        ranges: list[tuple[Bound, Bound]] = []
        for n in sorted(set(numbers)):
            if ranges and ranges[-1][1] == n - 1:
                ranges[-1] = (ranges[-1][0], n)
            else:
                ranges.append((n, n))
        return cls(tuple(ranges))

    def intervals(self, largest: int) -> list[tuple[int, int]]:
        """Sorted, merged, inclusive intervals within 1..largest (`*` = largest)."""
        if self.saved:
            raise ValueError("'$' must be resolved against the saved search result first")
        spans = sorted(_resolve(rng, largest) for rng in self.ranges)
        merged: list[tuple[int, int]] = []
        for low, high in spans:
            low, high = max(low, 1), min(high, largest)
            if low > high:
                continue
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
            else:
                merged.append((low, high))
        return merged

    def contains(self, number: int, largest: int) -> bool:
        """Whether `number` is in the set when `*` stands for `largest`."""
        return any(low <= number <= high for low, high in self.intervals(max(largest, number)))

    def iter(self, largest: int) -> Iterator[int]:
        """The numbers of the set that are <= largest, ascending and without repeats."""
        for low, high in self.intervals(largest):
            yield from range(low, high + 1)

    def __str__(self) -> str:
        if self.saved:
            return "$"
        return ",".join(_format_range(rng) for rng in self.ranges)


def _parse_part(part: bytes) -> tuple[Bound, Bound]:
    match = _PART.match(part)
    if match is None:
        raise SequenceSetError(f"bad sequence set element {part!r}")
    low = _number(match.group(1))
    high = low if match.group(2) is None else _number(match.group(2))
    return (low, high)


def _number(raw: bytes) -> Bound:
    if raw == b"*":
        return None
    value = int(raw)
    if value > MAX_NUMBER:
        raise SequenceSetError(f"number {value} out of range")
    return value


def _resolve(rng: tuple[Bound, Bound], largest: int) -> tuple[int, int]:
    low = largest if rng[0] is None else rng[0]
    high = largest if rng[1] is None else rng[1]
    return (low, high) if low <= high else (high, low)  # RFC 9051 §9: 4:2 == 2:4


def _format_range(rng: tuple[Bound, Bound]) -> str:
    low = "*" if rng[0] is None else str(rng[0])
    high = "*" if rng[1] is None else str(rng[1])
    return low if rng[0] == rng[1] else f"{low}:{high}"
