"""`roost domain|user|alias`: CRUD with --json on both backends, operator errors as one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from roost.accounts.passwords import verify_password
from tests.cli.helpers import Run, as_json, open_from


def _hash_of(config_file: Path, email: str) -> str:
    store = open_from(config_file)
    try:
        user = store.get_user(email)
        assert user is not None
        return user.password_hash
    finally:
        store.close()


def _error(roost: Run, *args: str, input: str | None = None) -> str:
    result = roost(*args, input=input, ok=False)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("roost: ")
    return str(result.stderr)


def test_domain_crud(roost: Run) -> None:
    """Domains are normalised on add, listed as JSON, and removable."""
    roost("domain", "add", "Example.TEST")
    roost("domain", "add", "other.test")
    assert as_json(roost("domain", "list", "--json")) == [
        {"domain": "example.test"},
        {"domain": "other.test"},
    ]
    assert "example.test" in roost("domain", "list").stdout
    roost("domain", "remove", "other.test")
    assert as_json(roost("domain", "list", "--json")) == [{"domain": "example.test"}]


def test_domain_errors(roost: Run) -> None:
    """Duplicates, unknown domains and bad names are one-line errors."""
    roost("domain", "add", "example.test")
    assert "example.test" in _error(roost, "domain", "add", "example.test")
    assert "nope.test" in _error(roost, "domain", "remove", "nope.test")
    assert "not a valid domain" in _error(roost, "domain", "add", "bad_domain!")


def test_user_add_password_stdin_and_list(roost: Run, config_file: Path) -> None:
    """--password-stdin reads one line; the stored hash verifies it; list shows the user."""
    roost("domain", "add", "example.test")
    roost("user", "add", "Alice@Example.test", "--password-stdin", input="s3cret\n")
    assert verify_password(_hash_of(config_file, "alice@example.test"), "s3cret")
    rows = as_json(roost("user", "list", "--json"))
    assert [r["email"] for r in rows] == ["alice@example.test"]
    assert set(rows[0]) == {"email", "created_at"}


def test_user_add_without_tty_generates_password(roost: Run, config_file: Path) -> None:
    """Without a terminal and without --password-stdin, a random password is made and printed."""
    roost("domain", "add", "example.test")
    out = roost("user", "add", "bob@example.test").stdout
    match = re.search(r"password for bob@example.test: (\S+)", out)
    assert match is not None
    assert verify_password(_hash_of(config_file, "bob@example.test"), match.group(1))


def test_user_passwd_and_remove(roost: Run, config_file: Path) -> None:
    """passwd replaces the hash; remove deletes the account."""
    roost("domain", "add", "example.test")
    roost("user", "add", "bob@example.test", "--password-stdin", input="one\n")
    roost("user", "passwd", "bob@example.test", "--password-stdin", input="two\n")
    stored = _hash_of(config_file, "bob@example.test")
    assert verify_password(stored, "two")
    assert not verify_password(stored, "one")
    roost("user", "remove", "bob@example.test")
    assert as_json(roost("user", "list", "--json")) == []


def test_user_errors(roost: Run) -> None:
    """Non-local domains, duplicates, unknown users, bad addresses, empty passwords."""
    roost("domain", "add", "example.test")
    assert "roost domain add remote.test" in _error(roost, "user", "add", "x@remote.test")
    roost("user", "add", "bob@example.test", "--password-stdin", input="pw\n")
    assert "bob@example.test" in _error(
        roost, "user", "add", "bob@example.test", "--password-stdin", input="pw\n"
    )
    assert "nobody@example.test" in _error(
        roost, "user", "passwd", "nobody@example.test", "--password-stdin", input="pw\n"
    )
    _error(roost, "user", "remove", "nobody@example.test")
    assert "local@domain" in _error(roost, "user", "add", "not-an-address")
    assert "empty password" in _error(
        roost, "user", "add", "carol@example.test", "--password-stdin", input="\n"
    )


def test_alias_crud(roost: Run) -> None:
    """Aliases (incl. catch-all) list as JSON with their targets; remove deletes them."""
    roost("domain", "add", "example.test")
    roost("alias", "add", "Info@Example.test", "bob@example.test", "Ext@Remote.test")
    roost("alias", "add", "@example.test", "bob@example.test")
    assert as_json(roost("alias", "list", "--json")) == [
        {"source": "@example.test", "targets": ["bob@example.test"]},
        {"source": "info@example.test", "targets": ["bob@example.test", "ext@remote.test"]},
    ]
    roost("alias", "remove", "info@example.test")
    assert [a["source"] for a in as_json(roost("alias", "list", "--json"))] == ["@example.test"]


def test_alias_errors(roost: Run) -> None:
    """The source's domain must be local; unknown aliases and bad targets are errors."""
    roost("domain", "add", "example.test")
    assert "remote.test" in _error(roost, "alias", "add", "@remote.test", "bob@example.test")
    assert "info@example.test" in _error(roost, "alias", "remove", "info@example.test")
    _error(roost, "alias", "add", "info@example.test", "not an address")


@pytest.mark.parametrize("group", ["domain", "user", "alias"])
def test_empty_lists(roost: Run, group: str) -> None:
    """Empty lists are [] in JSON and a short note for people."""
    assert as_json(roost(group, "list", "--json")) == []
    assert roost(group, "list").stdout.startswith("no ")
