"""`roost suppression list|add|remove` against the store (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from roost.queue.suppression import suppression_for
from tests.cli.helpers import Run, as_json, open_from


def test_add_list_remove(roost: Run) -> None:
    """Operator entries are per sending domain, folded, with source admin."""
    assert "no suppressed addresses" in roost("suppression", "list").output
    out = roost("suppression", "add", "Bob@Remote.TEST", "--domain", "Example.test").output
    assert out.strip() == "suppressed bob@remote.test for example.test"
    roost("suppression", "add", "carol@remote.test", "--domain", "other.test", "--reason", "asked")
    rows = as_json(roost("suppression", "list", "--json"))
    assert [(r["sender_domain"], r["address"], r["source"], r["reason"]) for r in rows] == [
        ("example.test", "bob@remote.test", "admin", "added by the operator"),
        ("other.test", "carol@remote.test", "admin", "asked"),
    ]
    assert datetime.fromisoformat(rows[0]["created_at"]).tzinfo is not None
    only = as_json(roost("suppression", "list", "--domain", "OTHER.test", "--json"))
    assert [r["address"] for r in only] == ["carol@remote.test"]
    table = roost("suppression", "list").output
    assert "bob@remote.test" in table
    assert "asked" in table
    out = roost("suppression", "remove", "bob@remote.test", "--domain", "example.test").output
    assert "removed bob@remote.test" in out
    assert [r["address"] for r in as_json(roost("suppression", "list", "--json"))] == [
        "carol@remote.test"
    ]


def test_add_replaces(roost: Run) -> None:
    roost("suppression", "add", "bob@remote.test", "--domain", "example.test", "--reason", "one")
    roost("suppression", "add", "bob@remote.test", "--domain", "example.test", "--reason", "two")
    rows = as_json(roost("suppression", "list", "--json"))
    assert [r["reason"] for r in rows] == ["two"]


def test_sees_bounce_entries(roost: Run, config_file: Path) -> None:
    """Entries the queue manager adds (suppression_for) show with their reply and source."""
    store = open_from(config_file)
    try:
        entry = suppression_for(
            "alice@example.test", "gone@remote.test", "550 5.1.1 no such user", "bounce",
            datetime.now(UTC),
        )  # fmt: skip
        store.add_suppression(entry)
    finally:
        store.close()
    (row,) = as_json(roost("suppression", "list", "--domain", "example.test", "--json"))
    assert row["source"] == "bounce"
    assert row["reason"] == "550 5.1.1 no such user"


def test_remove_unknown(roost: Run) -> None:
    result = roost("suppression", "remove", "x@remote.test", "--domain", "example.test", ok=False)
    assert result.exit_code == 1
    assert result.output.startswith("roost: ")
    assert "not suppressed" in result.output


def test_bad_input(roost: Run) -> None:
    """Bad address or domain: one line, exit 1; --domain is required for add/remove."""
    result = roost("suppression", "add", "not-an-address", "--domain", "example.test", ok=False)
    assert result.exit_code == 1
    assert result.output.startswith("roost: ")
    result = roost("suppression", "add", "a@b.test", "--domain", "bad domain", ok=False)
    assert result.exit_code == 1
    result = roost("suppression", "add", "a@b.test", ok=False)
    assert result.exit_code == 2
    assert "--domain" in result.output
