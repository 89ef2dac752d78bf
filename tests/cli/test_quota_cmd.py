"""`roost user quota EMAIL [SIZE|none]` on both backends, and imports storing structures."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from roost.store.types import BlobRef
from tests.cli.helpers import Run, as_json, open_from

ALICE = "alice@example.test"


def _setup(roost: Run, config_file: Path) -> int:
    roost("domain", "add", "example.test")
    roost("user", "add", ALICE, "--password-stdin", input="pw\n")
    data = b"Subject: q\r\n\r\n" + b"z" * 1986
    store = open_from(config_file)
    try:
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        when = datetime(2026, 3, 1, tzinfo=UTC)
        return store.append_message(ALICE, "INBOX", ref, data, frozenset(), when).size
    finally:
        store.close()


def test_quota_show_set_and_reset(roost: Run, config_file: Path) -> None:
    size = _setup(roost, config_file)
    assert as_json(roost("user", "quota", ALICE, "--json")) == {
        "email": ALICE,
        "used": size,
        "messages": 1,
        "limit": None,
        "limit_source": "default",
    }
    out = roost("user", "quota", ALICE, "500M").stdout
    assert f"({size} octets) in 1 messages; limit 500.0 MiB (524288000 octets)" in out
    assert as_json(roost("user", "quota", ALICE, "--json"))["limit"] == 500 * 1024**2
    roost("user", "quota", ALICE, "2G")
    assert as_json(roost("user", "quota", ALICE, "--json"))["limit"] == 2 * 1024**3
    roost("user", "quota", ALICE, "0")
    assert "limit unlimited, set for this user" in roost("user", "quota", ALICE).stdout
    roost("user", "quota", ALICE, "none")
    shown = as_json(roost("user", "quota", ALICE, "--json"))
    assert (shown["limit"], shown["limit_source"]) == (None, "default")


def test_quota_errors(roost: Run, config_file: Path) -> None:
    _setup(roost, config_file)
    bad = roost("user", "quota", ALICE, "lots", ok=False)
    assert bad.exit_code == 1
    assert "bad size 'lots'" in bad.stderr
    missing = roost("user", "quota", "nobody@example.test", ok=False)
    assert missing.exit_code == 1
    assert "no user nobody@example.test" in missing.stderr
