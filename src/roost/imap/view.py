"""The selected mailbox as one session numbers it (RFC 9051 §2.3.1.2).

Message sequence numbers are per session: message n is `uids[n - 1]`, and they change only when
this session is told of an expunge (an untagged EXPUNGE or VANISHED). Another session's expunge
therefore stays invisible here until a moment when RFC 9051 §7.5.1 lets the server report it;
until then the gone message keeps its number.

The view also holds each message's flags and MODSEQ as this session last reported them (what a
client's cache holds too): FETCH of UID/FLAGS/MODSEQ and flag-only SEARCH are answered from it
with no query, and a catch-up sends FETCH only for what differs. UIDs and MODSEQs are `array`s
(4 and 8 octets each) and flag texts are shared strings, so a 100,000-message mailbox costs
about 2 MB while selected.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from roost.imap.sequence import SequenceSet


class BadSequence(ValueError):
    """A message number outside the mailbox (RFC 9051 §9 seq-number)."""


@dataclass(slots=True)
class MailboxView:
    name: str
    uidvalidity: int
    uidnext: int
    modseq: int  # HIGHESTMODSEQ this session has caught up with
    readonly: bool
    uids: array[int] = field(default_factory=lambda: array("L"))
    flags: list[str] = field(default_factory=list)  # stored flag text, as store.encode_flags
    modseqs: array[int] = field(default_factory=lambda: array("Q"))
    _texts: dict[str, str] = field(default_factory=dict)  # one shared str per distinct flag set
    # Each message's flag text as a one-octet code (its position in _coded), while a mailbox
    # has at most 256 distinct texts (None after): flag SEARCH maps codes to a verdict with
    # bytes.translate instead of a dict lookup per message.
    codes: bytearray | None = field(default_factory=bytearray)
    _coded: dict[str, int] = field(default_factory=dict)
    _byte: dict[str, int] = field(default_factory=dict)  # _coded's values as octets

    def load(self, index: Iterable[tuple[int, str, int]]) -> None:
        """(uid, flags text, modseq) ascending, as `Store.mailbox_index` gives them."""
        rows = index if isinstance(index, list) else list(index)
        if not rows:
            return
        # Column by column in C: a SELECT of a large mailbox spends its time here otherwise.
        intern = self._texts.setdefault
        texts = list(map(intern, map(itemgetter(1), rows), map(itemgetter(1), rows)))
        self.uids.extend(map(itemgetter(0), rows))
        self.flags.extend(texts)
        self.modseqs.extend(map(itemgetter(2), rows))
        if self.codes is not None:
            for text in set(texts).difference(self._coded):
                self._code(text)
            self.codes += bytes(map(self._byte.__getitem__, texts))

    def _code(self, text: str) -> int:
        code = self._byte.get(text)
        if code is None:
            code = len(self._coded)
            self._coded[text] = code
            code = self._byte[text] = code & 0xFF  # past 256 texts codes are dropped (below)
        return code

    def coded_texts(self) -> list[str] | None:
        """The flag text of each code (by position), or None when there are too many texts."""
        if self.codes is None or len(self._coded) > 256:
            self.codes = None
            return None
        return list(self._coded)

    def copy(self, *, readonly: bool) -> MailboxView:
        """An independent view of the same messages (the memo keeps one per mailbox, so a
        SELECT of an unchanged mailbox needs no read of its messages)."""
        return MailboxView(
            self.name, self.uidvalidity, self.uidnext, self.modseq, readonly,
            array("L", self.uids), list(self.flags), array("Q", self.modseqs),
            dict(self._texts), None if self.codes is None else bytearray(self.codes),
            dict(self._coded), dict(self._byte),
        )  # fmt: skip

    @property
    def octets(self) -> int:
        """Roughly what the view holds: 4 + 8 octets a message in the arrays, a list slot and
        a code."""
        return 21 * len(self.uids)

    def first_without(self, flag: str) -> int | None:
        """The number of the first message whose flags lack `flag` (a system flag in canonical
        case, as stored), found without a pass in Python when the codes allow."""
        texts = self.coded_texts()
        if texts is not None and self.codes is not None:
            table = bytes(flag not in t.split() for t in texts).ljust(256, b"\x00")
            i = self.codes.translate(table).find(1)
            return None if i < 0 else i + 1
        return next((i + 1 for i, t in enumerate(self.flags) if flag not in t.split()), None)

    def flag_texts(self) -> Iterable[str]:
        """Every flag text the view holds (and maybe some it held before): few, and known
        without a pass over the messages."""
        return self._texts.values()

    def set_flags(self, uid: int, text: str, modseq: int) -> bool:
        """Record a message's new flags; False when the view already had exactly these."""
        seq = self.seq_of(uid)
        if seq is None:
            return False
        i = seq - 1
        if self.flags[i] == text and self.modseqs[i] == modseq:
            return False
        self.flags[i] = self._texts.setdefault(text, text)
        self.modseqs[i] = modseq
        if self.codes is not None:
            self.codes[i] = self._code(text)
        return True

    @property
    def count(self) -> int:
        return len(self.uids)

    def seq_of(self, uid: int) -> int | None:
        i = bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else None

    def max_uid(self) -> int:
        return self.uids[-1] if self.uids else 0

    def names_all(self, numbers: SequenceSet, *, uid: bool) -> bool:
        """Whether a (resolved) set names every message of this non-empty view, as the usual
        "1:*" sync does, found without listing them. False, too, for a set that by_sequence
        refuses."""
        uids = self.uids
        if not uids or numbers.saved or not numbers.ranges:
            return False
        if uid:
            spans = numbers.intervals(uids[-1])
            return len(spans) == 1 and spans[0][0] <= uids[0] and spans[0][1] >= uids[-1]
        count = len(uids)
        if any(isinstance(b, int) and b > count for rng in numbers.ranges for b in rng):
            return False
        return numbers.intervals(count) == [(1, count)]

    def by_sequence(self, numbers: SequenceSet) -> list[tuple[int, int]]:
        """(seq, uid) for a message-number set; a number beyond the last message is an
        error, except "n:*" in an empty mailbox."""
        count = len(self.uids)
        for low, high in numbers.ranges:
            if count == 0 and None in (low, high):
                continue  # "1:*" in an empty mailbox: nothing, not an error (clients send it)
            for bound in (low, high):
                if isinstance(bound, int) and bound > count:
                    raise BadSequence(f"message number {bound} does not exist")
        spans = numbers.intervals(count)
        if spans == [(1, count)]:  # "1:*", the usual whole-mailbox sync: built in C
            return list(zip(range(1, count + 1), self.uids, strict=True))
        uids = self.uids
        return [(n, uids[n - 1]) for low, high in spans for n in range(low, high + 1)]

    def by_uid(self, numbers: SequenceSet) -> list[tuple[int, int]]:
        """(seq, uid) for the UIDs of the set that exist here; `*` is the largest UID, and
        "n:*" always includes it (RFC 9051 §6.4.8)."""
        uids = self.uids
        if not uids:
            return []
        out: list[tuple[int, int]] = []
        for low, high in numbers.intervals(max(uids[-1], 1)):
            start = bisect_left(uids, low)
            end = bisect_right(uids, high)
            out.extend((i + 1, uids[i]) for i in range(start, end))
        if len(numbers.ranges) > 1:
            out = sorted(set(out))
        return out

    def uid_set_members(self, numbers: SequenceSet) -> list[int]:
        return [uid for _, uid in self.by_uid(numbers)]

    def append_new(self, entries: Iterable[tuple[int, str, int]]) -> int:
        """Add (uid, flags text, modseq) above the current last UID, in UID order; returns
        how many were added."""
        last = self.max_uid()
        added = sorted(e for e in entries if e[0] > last)
        self.load(added)
        return len(added)

    def remove(self, gone: Iterable[int]) -> list[int]:
        """Forget expunged UIDs; returns the EXPUNGE numbers to send, in sending order (each
        number is valid at the moment it is sent, so the highest goes first)."""
        positions = sorted(
            (seq for seq in (self.seq_of(u) for u in gone) if seq is not None), reverse=True
        )
        for seq in positions:
            del self.uids[seq - 1]
            del self.flags[seq - 1]
            del self.modseqs[seq - 1]
            if self.codes is not None:
                del self.codes[seq - 1]
        return positions

    def missing(self, present: Sequence[int]) -> list[int]:
        """UIDs this session still numbers that are not in `present` (sorted) any more."""
        out = []
        for uid in self.uids:
            i = bisect_left(present, uid)
            if i >= len(present) or present[i] != uid:
                out.append(uid)
        return out
