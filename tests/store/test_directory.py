"""Directory: domains, users, aliases; every change bumps the serial in the same transaction."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from roost.store.interface import AlreadyExists, NotFound, Store, StoreError
from roost.store.types import DEFAULT_MAILBOXES


def test_domain_add_list_remove(store: Store) -> None:
    """Domains are stored lower-cased and removed by any spelling."""
    store.add_domain("Example.ORG")
    store.add_domain("b.test")
    assert store.list_domains() == ["b.test", "example.org"]
    store.remove_domain("EXAMPLE.org")
    assert store.list_domains() == ["b.test"]


def test_domain_errors_name_the_domain(store: Store) -> None:
    """Duplicates and missing domains raise the typed errors with the name in the message."""
    store.add_domain("example.org")
    with pytest.raises(AlreadyExists, match=re.escape("example.org")):
        store.add_domain("EXAMPLE.ORG")
    with pytest.raises(NotFound, match=re.escape("nowhere.test")):
        store.remove_domain("nowhere.test")


def test_domain_with_users_is_not_removed(local_store: Store) -> None:
    """Removing a domain that still has users is refused: it would orphan mailboxes."""
    with pytest.raises(StoreError, match="still has 2 user"):
        local_store.remove_domain("example.org")
    assert local_store.list_domains() == ["example.org"]


def test_add_user_creates_default_mailboxes(local_store: Store) -> None:
    """A new user gets every default mailbox, empty, with UIDNEXT 1 and distinct UIDVALIDITY."""
    boxes = local_store.list_mailboxes("alice@example.org")
    assert [b.name for b in boxes] == list(DEFAULT_MAILBOXES)
    assert all(b.uidnext == 1 and b.messages == 0 and b.highestmodseq == 1 for b in boxes)
    assert len({b.uidvalidity for b in boxes}) == len(boxes)


def test_user_needs_local_domain(store: Store) -> None:
    """A user in an unknown domain is refused with the command that fixes it."""
    with pytest.raises(StoreError, match=r"domain other.test is not local; add it with `roost"):
        store.add_user("carol@other.test", "h")


def test_user_case_insensitive_and_duplicate(local_store: Store) -> None:
    """Addresses are case-insensitive, local part included; a duplicate is AlreadyExists."""
    user = local_store.get_user("ALICE@Example.Org")
    assert user is not None
    assert user.email == "alice@example.org"
    assert user.created_at.tzinfo is not None
    with pytest.raises(AlreadyExists, match=re.escape("alice@example.org")):
        local_store.add_user("Alice@example.org", "h")


def test_set_password_and_remove_user(local_store: Store) -> None:
    """Password changes are visible at once; removing a user removes the mailboxes too."""
    local_store.set_password("alice@example.org", "new")
    user = local_store.get_user("alice@example.org")
    assert user is not None
    assert user.password_hash == "new"
    local_store.remove_user("alice@example.org")
    assert local_store.get_user("alice@example.org") is None
    assert local_store.list_mailboxes("alice@example.org") == []
    assert [u.email for u in local_store.list_users()] == ["bob@example.org"]
    with pytest.raises(NotFound, match=re.escape("alice@example.org")):
        local_store.set_password("alice@example.org", "x")
    with pytest.raises(NotFound):
        local_store.remove_user("alice@example.org")


def test_aliases_merge_and_remove(local_store: Store) -> None:
    """add_alias adds targets to an existing alias; catch-alls use '@domain'."""
    local_store.add_alias("Sales@example.org", ["alice@example.org"])
    local_store.add_alias("sales@example.org", ["BOB@example.org", "alice@example.org"])
    local_store.add_alias("@example.org", ["alice@example.org"])
    aliases = {a.source: a.targets for a in local_store.list_aliases()}
    assert aliases == {
        "sales@example.org": ("alice@example.org", "bob@example.org"),
        "@example.org": ("alice@example.org",),
    }
    local_store.remove_alias("SALES@example.org")
    assert [a.source for a in local_store.list_aliases()] == ["@example.org"]
    with pytest.raises(NotFound, match=re.escape("sales@example.org")):
        local_store.remove_alias("sales@example.org")


def test_alias_needs_local_domain(store: Store) -> None:
    """An alias for a domain we do not serve would never receive mail; refuse it."""
    with pytest.raises(StoreError, match="not local"):
        store.add_alias("x@other.test", ["a@b.test"])


def test_every_change_bumps_serial(store: Store) -> None:
    """Each directory write increments directory_serial exactly once."""
    changes: list[Callable[[], None]] = [
        lambda: store.add_domain("example.org"),
        lambda: store.add_user("alice@example.org", "h"),
        lambda: store.set_password("alice@example.org", "h2"),
        lambda: store.add_alias("a@example.org", ["alice@example.org"]),
        lambda: store.remove_alias("a@example.org"),
        lambda: store.remove_user("alice@example.org"),
        lambda: store.remove_domain("example.org"),
    ]
    for expected, change in enumerate(changes, start=1):
        change()
        assert store.directory_serial() == expected


def test_failed_change_does_not_bump_serial(store: Store) -> None:
    """A refused change leaves the serial alone (same transaction)."""
    store.add_domain("example.org")
    with pytest.raises(AlreadyExists):
        store.add_domain("example.org")
    assert store.directory_serial() == 1


def test_load_directory_snapshot(local_store: Store) -> None:
    """load_directory returns serial, domains, users and aliases together."""
    local_store.add_alias("team@example.org", ["alice@example.org", "bob@example.org"])
    directory = local_store.load_directory()
    assert directory.serial == local_store.directory_serial() == 4
    assert directory.domains == frozenset({"example.org"})
    assert set(directory.users) == {"alice@example.org", "bob@example.org"}
    assert directory.aliases == {"team@example.org": ("alice@example.org", "bob@example.org")}


def test_readding_alias_targets_keeps_serial(local_store: Store) -> None:
    """Adding targets an alias already has is a no-op and does not make servers reload."""
    local_store.add_alias("a@example.org", ["alice@example.org"])
    serial = local_store.directory_serial()
    local_store.add_alias("A@example.org", ["ALICE@example.org"])
    assert local_store.directory_serial() == serial


def test_a_user_created_again_gets_new_uidvalidity(local_store: Store) -> None:
    """RFC 9051 §2.3.1.1: removed and added again in the same second, the user's mailboxes
    start at UID 1 again, so every UIDVALIDITY must be new (clients, and the IMAP memo, key
    what they keep on it)."""
    user = "alice@example.org"
    before = {b.name: b.uidvalidity for b in local_store.list_mailboxes(user)}
    for _ in range(2):
        local_store.remove_user(user)
        local_store.add_user(user, "hash")
        after = {b.name: b.uidvalidity for b in local_store.list_mailboxes(user)}
        assert min(after.values()) > max(before.values())
        assert len(set(after.values())) == len(after)
        before = after
    created = local_store.create_mailbox(user, "Later")
    assert created.uidvalidity > max(before.values())
