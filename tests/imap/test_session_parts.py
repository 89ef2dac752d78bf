"""The pure parts of the IMAP session: numbering, names and patterns, state table, change hub."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost.imap import names
from roost.imap.hub import MailboxHub
from roost.imap.sequence import SequenceSet
from roost.imap.states import State, allowed
from roost.imap.view import BadSequence, MailboxView


def view(*uids: int) -> MailboxView:
    v = MailboxView("INBOX", 7, max(uids, default=0) + 1, 1, readonly=False)
    v.load((uid, "", 1) for uid in uids)
    return v


def test_sequence_and_uid_resolution() -> None:
    v = view(3, 5, 9, 10)
    assert v.by_sequence(SequenceSet.parse("2:*")) == [(2, 5), (3, 9), (4, 10)]
    assert v.by_uid(SequenceSet.parse("4:9")) == [(2, 5), (3, 9)]
    assert v.by_uid(SequenceSet.parse("11:*")) == [(4, 10)]  # RFC 9051 §6.4.8: n:* has the last
    assert v.by_uid(SequenceSet.parse("1,3,3:5")) == [(1, 3), (2, 5)]
    with pytest.raises(BadSequence):
        v.by_sequence(SequenceSet.parse("5"))
    assert view().by_sequence(SequenceSet.parse("1:*")) == []
    with pytest.raises(BadSequence):
        view().by_sequence(SequenceSet.parse("1"))


def test_remove_gives_expunge_numbers_valid_when_sent() -> None:
    v = view(1, 2, 3, 4, 5)
    assert v.remove([2, 4, 99]) == [4, 2]  # highest first: each number valid when sent
    assert list(v.uids) == [1, 3, 5]
    assert v.missing([1, 5]) == [3]
    assert v.append_new([(1, "", 1), (5, "", 1), (6, "\\Seen", 2), (7, "", 3)]) == 2
    assert list(v.uids) == [1, 3, 5, 6, 7]
    assert v.flags == ["", "", "", "\\Seen", ""]
    assert list(v.modseqs) == [1, 1, 1, 2, 3]
    assert v.set_flags(6, "\\Seen", 2) is False  # already known
    assert v.set_flags(6, "", 4) is True


@given(st.sets(st.integers(1, 500), max_size=60), st.sets(st.integers(1, 500), max_size=30))
def test_remove_matches_a_model(uids: set[int], gone: set[int]) -> None:
    v = view(*sorted(uids))
    model = sorted(uids)
    for seq in v.remove(gone):
        del model[seq - 1]
    assert list(v.uids) == model == sorted(uids - gone)


def test_list_patterns() -> None:
    assert names.matches("*", "Work/Projects")
    assert not names.matches("%", "Work/Projects")
    assert names.matches("Work/%", "Work/Projects")
    assert names.matches("inbox", "INBOX")
    assert names.canonical_pattern("Work", "%") == "Work/%"
    assert names.canonical_pattern("Work/", "%") == "Work/%"
    assert names.canonical_pattern("Work", "/x") == "/x"
    assert names.parent_names("a/b/c") == ["a", "a/b"]


def test_name_encodings_and_checks() -> None:
    assert names.from_wire("&AMQ-pfel", utf8=False) == "Äpfel"
    assert names.to_wire("Äpfel", utf8=False) == "&AMQ-pfel"
    assert names.from_wire("Äpfel", utf8=True) == "Äpfel"
    assert names.from_wire("inbox", utf8=True) == "INBOX"
    with pytest.raises(names.BadName):
        names.from_wire("&bad", utf8=False)
    assert names.check_new_name("foo/") == "foo"
    for bad in ("", "a//b", "a\x01", "x*"):
        with pytest.raises(names.BadName):
            names.check_new_name(bad)


def test_state_table() -> None:
    assert allowed(State.NOT_AUTHENTICATED, "LOGIN")
    assert not allowed(State.NOT_AUTHENTICATED, "SELECT")
    assert allowed(State.AUTHENTICATED, "SELECT")
    assert not allowed(State.AUTHENTICATED, "FETCH")
    assert not allowed(State.AUTHENTICATED, "LOGIN")
    assert allowed(State.SELECTED, "FETCH")
    assert allowed(State.SELECTED, "LIST")
    assert allowed(State.SELECTED, "NOOP")
    assert not allowed(State.LOGOUT, "NOOP")


def test_hub_notifies_other_sessions_and_polled_changes() -> None:
    hub = MailboxHub()
    seen: list[str] = []
    a = hub.watch("u", lambda: seen.append("a"))
    hub.watch("u", lambda: seen.append("b"))
    hub.watch("v", lambda: seen.append("v"))
    hub.notify("u", exclude=a)
    assert seen == ["b"]
    seen.clear()
    marks = {("u", "INBOX"): (1, 5, 3), ("v", "INBOX"): (2, 1, 1)}
    assert sorted(hub.absorb(marks)) == ["u", "v"]  # a first reading counts as a change
    seen.clear()
    assert hub.absorb(marks) == []
    marks[("u", "INBOX")] = (1, 6, 3)
    assert hub.absorb(marks) == ["u"]
    assert sorted(seen) == ["a", "b"]
    hub.unwatch(a)
    assert hub.watched_users() == ["u", "v"]
