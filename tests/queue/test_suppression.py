"""Hard-bounce rules (RFC 3463 classes) and suppression entries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from roost.queue.suppression import (
    is_hard_bounce,
    is_hard_bounce_reply,
    normalize_enhanced,
    split_reply,
    suppression_for,
)


@pytest.mark.parametrize(
    "enhanced", ["5.1.1", "5.1.0", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1", "5.01.001"]
)
def test_hard(enhanced: str) -> None:
    """Bad mailbox, bad domain, bad syntax, moved, Null MX, disabled: the address is gone."""
    assert is_hard_bounce(550, enhanced)


@pytest.mark.parametrize(
    ("code", "enhanced"),
    [
        (550, "5.7.1"),  # policy / spam block
        (554, "5.7.26"),  # DMARC failure: the sender's problem
        (552, "5.2.2"),  # mailbox full: usually transient in practice
        (552, "5.3.4"),  # message too big
        (554, "5.6.0"),  # content
        (550, "5.4.1"),  # routing (e.g. recipient server refused access)
        (553, "5.1.7"),  # the sender's address is bad, not the recipient's
        (553, "5.1.8"),
        (550, ""),  # no enhanced code: cannot tell "blocked" from "no such user"
        (450, "4.1.1"),  # temporary
        (550, "4.1.1"),  # inconsistent: not trusted
        (250, "2.1.5"),
        (550, "garbage"),
    ],
)
def test_not_hard(code: int, enhanced: str) -> None:
    assert not is_hard_bounce(code, enhanced)


def test_normalize_enhanced() -> None:
    assert normalize_enhanced("5.01.001") == "5.1.1"
    assert normalize_enhanced(" 5.1.10 text") == "5.1.10"
    assert normalize_enhanced("6.1.1") == ""
    assert normalize_enhanced("5.1") == ""


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("550 5.1.1 <bob@remote.test>: Recipient address rejected", (550, "5.1.1")),
        ("550-5.1.1 The email account that you tried to reach does not exist", (550, "5.1.1")),
        ("554 Transaction failed", (554, "")),
        ("no answer", (0, "")),
    ],
)
def test_split_reply(reply: str, expected: tuple[int, str]) -> None:
    assert split_reply(reply) == expected


def test_hard_bounce_reply() -> None:
    assert is_hard_bounce_reply("550 5.1.1 no such user")
    assert not is_hard_bounce_reply("550 5.7.1 blocked by policy")
    assert not is_hard_bounce_reply("")


def test_suppression_for() -> None:
    """Keyed by the sender's domain (per-tenant lists); address folded; reply kept as reason."""
    now = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    entry = suppression_for(
        "Alice@Example.TEST", "<Bob@Remote.Test>", " 550 5.1.1 no such user ", "bounce", now
    )
    assert entry.sender_domain == "example.test"
    assert entry.address == "bob@remote.test"
    assert entry.reason == "550 5.1.1 no such user"
    assert entry.source == "bounce"
    assert entry.created_at == now


def test_suppression_reason_is_bounded() -> None:
    entry = suppression_for("a@x.test", "b@y.test", "5" * 2000, "dsn", datetime.now(UTC))
    assert len(entry.reason) == 500
