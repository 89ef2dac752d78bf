"""Per-message values that never change, kept in memory for repeated FETCH and SEARCH.

Mail clients fetch the same header fields of every message again and again (to draw the message
list), and SEARCH FROM or SUBJECT reads the same few fields. Dovecot keeps such fields in its
cache file; Roost keeps them in memory, per node, in groups: one dict {uid: value} per
(user, mailbox, UIDVALIDITY, item), where the item is a header section, RFC822.SIZE or the
decoded values of one header field.

Nothing needs invalidating. The octets under a UID never change, and a UID is never given to
another message while the mailbox keeps its UIDVALIDITY (RFC 9051 §2.3.1.1; the store raises
UIDVALIDITY above every earlier one whenever a mailbox name is created again). A group may
therefore hold values of messages expunged since, which nobody asks for again and which leave
with the group.

The budget is in octets: the values' lengths plus a fixed charge per entry for the dict slot and
the objects. When it is exceeded, whole groups leave, least recently used first. A chunk of new
values that would not fit even alone is not kept: the command that made them still uses them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

ENTRY_OCTETS = 120  # dict slot, int key and the value object's header, roughly (CPython 3.11)

BoxKey = tuple[str, str, int]  # (user, mailbox, UIDVALIDITY)
GroupKey = tuple[BoxKey, Hashable]


class _Group:
    __slots__ = ("octets", "values")

    def __init__(self) -> None:
        self.values: dict[int, Any] = {}
        self.octets = 0


class MessageMemo:
    """The node's memo of per-message values (see the module docstring); 0 octets disables it."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.octets = 0
        self._groups: OrderedDict[GroupKey, _Group] = OrderedDict()

    def get(self, box: BoxKey, item: Hashable) -> dict[int, Any]:
        """The values kept for `item` in mailbox `box` (empty when none): read-only for callers,
        who add through `add`. Marks the group as recently used."""
        group = self._groups.get((box, item))
        if group is None:
            return {}
        self._groups.move_to_end((box, item))
        return group.values

    def items(self, box: BoxKey) -> list[tuple[Hashable, dict[int, Any]]]:
        """Every item kept for mailbox `box` with its values (read-only), without marking any
        as used."""
        return [(key[1], group.values) for key, group in self._groups.items() if key[0] == box]

    def add(self, box: BoxKey, item: Hashable, values: dict[int, Any], octets: int) -> None:
        """Keep `values` (a chunk of new ones, their lengths summing to `octets`)."""
        if not values:
            return
        cost = octets + ENTRY_OCTETS * len(values)
        if cost > self.budget:
            return
        key = (box, item)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
        else:
            self._groups.move_to_end(key)
        group.values.update(values)
        group.octets += cost
        self.octets += cost
        while self.octets > self.budget:
            _, oldest = self._groups.popitem(last=False)
            self.octets -= oldest.octets

    @property
    def groups(self) -> int:
        return len(self._groups)
