"""The node's memo of per-message values (memo.py), the field values SEARCH takes from it
(searching.field_values, memo_fields, required_text) and the view's whole-mailbox test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.imap.fetch import Section
from roost.imap.fetching import _header_step, section_holds
from roost.imap.grammar import Cursor
from roost.imap.memo import ENTRY_OCTETS, MessageMemo
from roost.imap.render import header_end, header_reader
from roost.imap.search import parse_search_keys
from roost.imap.searching import (
    _split_fields,
    field_values,
    memo_fields,
    required_text,
)
from roost.imap.sequence import SequenceSet
from roost.imap.view import MailboxView
from tests.imap.messages import DIGEST_LIKE, EIGHT_BIT, MIXED, SIMPLE

BOX = ("alice@x.test", "INBOX", 7)
OTHER = ("alice@x.test", "INBOX", 8)  # the same name with another UIDVALIDITY


def test_values_are_kept_per_mailbox_and_item() -> None:
    memo = MessageMemo(10_000)
    assert memo.get(BOX, "size") == {}
    memo.add(BOX, "size", {1: 100, 2: 200}, 0)
    memo.add(BOX, "size", {3: 300}, 0)
    assert memo.get(BOX, "size") == {1: 100, 2: 200, 3: 300}
    assert memo.get(BOX, "other item") == {}
    assert memo.get(OTHER, "size") == {}
    assert memo.octets == 3 * ENTRY_OCTETS
    assert memo.groups == 1


def test_least_recently_used_groups_leave_first() -> None:
    budget = 10 * ENTRY_OCTETS + 300
    memo = MessageMemo(budget)
    memo.add(BOX, "a", dict.fromkeys(range(4), b"x" * 10), 40)
    memo.add(BOX, "b", dict.fromkeys(range(4), b"y" * 10), 40)
    memo.get(BOX, "a")  # "a" is now the more recently used
    memo.add(BOX, "c", dict.fromkeys(range(4), b"z" * 10), 40)
    assert memo.get(BOX, "b") == {}
    assert len(memo.get(BOX, "a")) == len(memo.get(BOX, "c")) == 4
    assert memo.octets <= budget
    assert memo.octets == 2 * (4 * ENTRY_OCTETS + 40)


def test_a_chunk_larger_than_the_budget_is_not_kept() -> None:
    memo = MessageMemo(5 * ENTRY_OCTETS)
    memo.add(BOX, "a", {1: b"kept"}, 4)
    memo.add(BOX, "b", dict.fromkeys(range(10), b""), 0)
    assert memo.get(BOX, "b") == {}
    assert memo.get(BOX, "a") == {1: b"kept"}


def test_a_disabled_memo_keeps_nothing() -> None:
    memo = MessageMemo(0)
    memo.add(BOX, "a", {1: b"x"}, 1)
    assert memo.get(BOX, "a") == {}
    assert memo.octets == 0
    assert memo.groups == 0


def test_a_group_that_outgrows_the_budget_leaves() -> None:
    memo = MessageMemo(4 * ENTRY_OCTETS)
    for n in range(10):
        memo.add(BOX, "a", {n: b""}, 0)
        assert memo.octets <= memo.budget
    assert len(memo.get(BOX, "a")) < 10


# --- field values -------------------------------------------------------------------------------

_NAMES = ["from", "to", "subject", "date", "x-a", "received"]
_LINE = st.sampled_from(
    [
        b"From: Carol <c@x>\r\n",
        b"from : =?utf-8?q?Car=C3=B6l?= <c@x>\r\n",
        b"FROM:\tdave\r\n",
        b"To: a@x,\r\n b@y\r\n",
        b"Subject: =?iso-8859-1?q?caf=E9?=\r\n \r\n",
        b"X-A: one\n",
        b"X-AB: not x-a\r\n",
        b"Date: Tue, 4 Mar 2025 10:00:00 +0000\r\n",
        b"Received: by x;\r\n\tTue, 4 Mar 2025\r\n",
        b"no colon here\r\n",
        b" continuation first\r\n",
        b"Subject: \xc3\xa9t\xc3\xa9 8-bit\r\n",
        b"Subject: \xe9 latin-1\r\n",
        b"From:\r\n",
        b"\r\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=12), st.binary(max_size=20))
def test_field_values_are_what_the_parser_reads(lines: list[bytes], tail: bytes) -> None:
    message = b"".join(lines) + tail
    block = message[: header_end(message)]
    parsed = _split_fields(block)
    got = field_values(message, _NAMES)
    for name in _NAMES:
        assert list(got[name]) == [v for n, v in parsed if n == name], name
        assert field_values(message, [name]) == {name: got[name]}  # the one-name path


@pytest.mark.parametrize("message", [SIMPLE, MIXED, EIGHT_BIT, DIGEST_LIKE])
def test_field_values_of_real_messages(message: bytes) -> None:
    parsed = _split_fields(message[: header_end(message)])
    names = sorted({n for n, _ in parsed if n.isascii() and " " not in n})
    got = field_values(message, names)
    assert names
    assert all(list(got[n]) == [v for k, v in parsed if k == n] for n in names)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('FROM "carol"', {"from"}),
        ("SUBJECT x TO y CC z BCC w", {"subject", "to", "cc", "bcc"}),
        ('OR FROM a NOT HEADER X-Spam "yes"', {"from", "x-spam"}),
        ("SENTSINCE 1-Jan-2025 SEEN UID 1:5 MODSEQ 3", {"date"}),
        ("UNSEEN KEYWORD $Junk", set()),
        ("FROM a LARGER 100", None),  # the size is not in the view
        ("FROM a SINCE 1-Jan-2025", None),  # nor the internal date
        ("BODY x", None),
        ("TEXT x", None),
        ('HEADER "a b" x', None),  # not a plain field name
    ],
)
def test_memo_fields(text: str, expected: set[str] | None) -> None:
    key = parse_search_keys(Cursor(text.encode() + b"\r\n"))
    found = memo_fields(key)
    assert (None if found is None else set(found)) == expected


def test_required_text_takes_the_top_level_positive_values() -> None:
    key = parse_search_keys(
        Cursor('FROM "Carol" HEADER X-A "Straße" SUBJECT "" NOT TO x OR CC a BCC b\r\n'.encode())
    )
    assert required_text(key) == [("from", "carol"), ("x-a", "strasse")]


# --- the view ---------------------------------------------------------------------------------


def _view(*uids: int) -> MailboxView:
    v = MailboxView("INBOX", 7, max(uids, default=0) + 1, 1, readonly=False)
    v.load((u, "", 1) for u in uids)
    return v


@pytest.mark.parametrize(
    ("text", "uid", "expected"),
    [
        ("1:*", False, True),
        ("*:1", False, True),
        ("1:4", False, True),
        ("1,2:*", False, True),
        ("2:*", False, False),
        ("1:5", False, False),  # 5 does not exist: by_sequence refuses it
        ("1:3", False, False),
        ("1:*", True, True),
        ("3:40", True, True),
        ("4:40", True, False),
        ("3:39", True, False),
        ("3,5:40", True, False),
    ],
)
def test_names_all(text: str, uid: bool, expected: bool) -> None:
    view = _view(3, 9, 20, 40)
    numbers = SequenceSet.parse(text.encode())
    assert view.names_all(numbers, uid=uid) is expected
    if expected:
        listed = view.by_uid(numbers) if uid else view.by_sequence(numbers)
        assert [u for _, u in listed] == [3, 9, 20, 40]


def test_names_all_in_an_empty_view() -> None:
    assert not _view().names_all(SequenceSet.parse(b"1:*"), uid=False)


def _codes_agree(view: MailboxView) -> bool:
    texts = view.coded_texts()
    assert texts is not None
    assert view.codes is not None
    return [texts[c] for c in view.codes] == view.flags


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["set", "remove", "append"]),
            st.integers(1, 30),
            st.sampled_from(["", "\\Seen", "\\Flagged \\Seen", "$A", "$B \\Seen"]),
        ),
        max_size=40,
    )
)
def test_flag_codes_follow_every_change(ops: list[tuple[str, int, str]]) -> None:
    view = _view(*range(1, 11))
    for op, uid, text in ops:
        if op == "set":
            view.set_flags(uid, text, 5)
        elif op == "remove":
            view.remove([uid])
        else:
            view.append_new([(view.max_uid() + 1, text, 6)])
        assert _codes_agree(view)


def test_flag_codes_stop_past_256_texts() -> None:
    view = _view(1)
    view.append_new([(n + 2, f"$K{n}", 1) for n in range(300)])
    assert view.coded_texts() is None
    assert view.codes is None
    view.set_flags(5, "\\Seen", 2)  # still works without codes
    assert view.flags[4] == "\\Seen"


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=12), st.binary(max_size=20))
def test_a_kept_section_gives_the_values_the_message_gives(lines: list[bytes], tail: bytes) -> None:
    """SEARCH takes field values from a header section kept for FETCH (memosearch.py) when
    `section_holds` says it keeps the fields whole: the values must be the message's own."""
    message = b"".join(lines) + tail
    names = frozenset(["from", "to", "subject"])
    sections = [
        Section(specifier="HEADER.FIELDS", fields=("FROM", "TO", "SUBJECT", "DATE"), peek=True),
        Section(specifier="HEADER", peek=True),
    ]
    expected = field_values(message, sorted(names))
    for section in sections:
        key = _header_step(section).key
        assert section_holds(key, names)
        assert field_values(header_reader(section)(message), sorted(names)) == expected


def test_which_kept_sections_hold_fields() -> None:
    names = frozenset(["from", "subject"])
    holds = [
        Section(specifier="HEADER.FIELDS", fields=("SUBJECT", "FROM"), peek=True),
        Section(specifier="HEADER"),
    ]
    lacks = [
        Section(specifier="HEADER.FIELDS", fields=("FROM",), peek=True),
        Section(specifier="HEADER.FIELDS.NOT", fields=("TO",), peek=True),
        Section(specifier="HEADER", partial=(0, 100)),
    ]
    assert all(section_holds(_header_step(s).key, names) for s in holds)
    assert not any(section_holds(_header_step(s).key, names) for s in lacks)
    assert not section_holds(("RFC822.SIZE",), names)
    assert not section_holds(("values", "from"), names)
