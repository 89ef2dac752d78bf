"""Mail store reads (IMAP model): mailboxes by name, messages by UID."""

from __future__ import annotations

import pytest

from roost.store.interface import NotFound, Store
from tests.store.conftest import local, message

ALICE = "alice@example.org"


def test_inbox_is_case_insensitive(local_store: Store) -> None:
    """RFC 9051 §5.1: 'inbox', 'InBox' and 'INBOX' name the same mailbox."""
    for name in ("inbox", "InBox", "INBOX"):
        box = local_store.get_mailbox(ALICE, name)
        assert box is not None
        assert box.name == "INBOX"


def test_other_names_are_case_sensitive(local_store: Store) -> None:
    """Only INBOX folds case; 'sent' is not 'Sent'."""
    assert local_store.get_mailbox(ALICE, "Sent") is not None
    assert local_store.get_mailbox(ALICE, "sent") is None
    assert local_store.get_mailbox("nobody@example.org", "INBOX") is None


def test_messages_by_uid(local_store: Store) -> None:
    """list_messages is ordered by UID; get_message finds one or returns None."""
    local_store.enqueue_batch([message(f"q{i}", local(ALICE), offset=i) for i in range(3)])
    msgs = local_store.list_messages(ALICE, "INBOX")
    assert [m.uid for m in msgs] == [1, 2, 3]
    assert all(m.user == ALICE and m.mailbox == "INBOX" for m in msgs)
    assert local_store.get_message(ALICE, "INBOX", 2) == msgs[1]
    assert local_store.get_message(ALICE, "INBOX", 7) is None
    assert local_store.get_message(ALICE, "Nope", 1) is None
    assert local_store.list_messages(ALICE, "Sent") == []


def test_missing_mailbox_listing_is_not_found(local_store: Store) -> None:
    """Listing a mailbox that does not exist names it instead of returning an empty list."""
    with pytest.raises(NotFound, match="Nope"):
        local_store.list_messages(ALICE, "Nope")
