"""Pure helpers shared by the backends (no database needed)."""

from __future__ import annotations

import pytest

from roost.store.common import (
    canonical_mailbox,
    normalize_alias_source,
    normalize_email,
    plan_deliveries,
)
from roost.store.interface import StoreError
from roost.store.types import NewRecipient


def test_plan_groups_by_user() -> None:
    """One copy per distinct user, carrying the first recipient's prefix."""
    rcpts = {
        0: NewRecipient("a@x.test", "U@x.test", b"1"),
        1: NewRecipient("r@remote.test"),
        2: NewRecipient("b@x.test", "u@x.test", b"2"),
    }
    (delivery,) = plan_deliveries(b"P", rcpts)
    assert (delivery.user, delivery.indexes, delivery.prefix) == ("u@x.test", (0, 2), b"1P")


def test_normalisation() -> None:
    """Addresses fold case entirely; INBOX alone folds among mailbox names."""
    assert normalize_email(" Alice@Example.ORG. ") == "alice@example.org"
    assert normalize_alias_source("@Example.org") == "@example.org"
    assert canonical_mailbox("inBox") == "INBOX"
    assert canonical_mailbox("sent") == "sent"
    for bad in ("nobody", "@x.test", "a b@x.test"):
        with pytest.raises(StoreError):
            normalize_email(bad)


def test_dsn_password_is_redacted() -> None:
    """Connection errors name the server but never print the password."""
    from roost.store.postgres.store import redact

    shown = redact("postgresql://roost:s3cret@db.internal:5432/roost")
    assert "s3cret" not in shown
    assert "db.internal" in shown
