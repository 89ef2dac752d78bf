"""Which blocks of an inbound DSN count as hard failures for the suppression list."""

from __future__ import annotations

from roost.queue.bounces import BounceReport
from roost.queue.feedback import hard_failures


def report(action: str, status: str, diagnostic: str = "") -> BounceReport:
    return BounceReport("x@remote.example", action, status, diagnostic)


def test_only_failed_address_errors_count() -> None:
    """Action failed with 5.1.x counts; delays, policy blocks and full mailboxes do not."""
    reports = [
        report("failed", "5.1.1", "550 5.1.1 user unknown"),
        report("delayed", "4.4.1"),
        report("failed", "5.7.1", "550 5.7.1 blocked"),
        report("failed", "5.2.2", "552 5.2.2 mailbox full"),
        report("delivered", "2.0.0"),
    ]
    assert [r.status for r in hard_failures(reports)] == ["5.1.1"]


def test_status_from_the_diagnostic_when_missing() -> None:
    """A block without Status falls back to the enhanced code in the diagnostic."""
    assert hard_failures([report("failed", "", "550 5.1.2 bad domain")])
    assert not hard_failures([report("failed", "", "550 nothing enhanced")])
