"""`roost mailbox list|show` on messages delivered through the Store API."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from roost.cli.main import cli
from roost.store.types import NewRecipient
from tests.cli.helpers import Run, as_json, enqueue

PREFIX = b"Return-Path: <sender@remote.test>\r\nDelivered-To: bob@example.test\r\n"
MESSAGE = (
    b"From: =?utf-8?q?J=C3=B6rg?= <joerg@remote.test>\r\n"
    b"To: bob@example.test\r\n"
    b"Subject: =?utf-8?b?R3LDvMOfZQ==?= from afar\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"\r\n"
    b"Hello Bob\r\n"
)


@pytest.fixture
def delivered(roost: Run, config_file: Path) -> bytes:
    """One message in bob's INBOX; returns what the store must hand back (prefix + blob)."""
    roost("domain", "add", "example.test")
    roost("user", "add", "bob@example.test", "--password-stdin", input="pw\n")
    rcpt = NewRecipient("bob@example.test", deliver_to="bob@example.test", delivery_prefix=PREFIX)
    enqueue(config_file, MESSAGE, (rcpt,))
    return MESSAGE


def test_list_decodes_headers(roost: Run, delivered: bytes) -> None:
    """list shows uid, from and subject with RFC 2047 words decoded, and the size."""
    [row] = as_json(roost("mailbox", "list", "bob@example.test", "--json"))
    assert row["uid"] == 1
    assert row["subject"] == "Grüße from afar"
    assert row["from"] == "Jörg <joerg@remote.test>"
    assert row["date"] == "Mon, 01 Jan 2024 10:00:00 +0000"
    assert row["size"] >= len(delivered)
    out = roost("mailbox", "list", "Bob@Example.test").stdout
    assert "Grüße from afar" in out


def test_show_writes_exact_bytes(config_file: Path, delivered: bytes) -> None:
    """show writes the stored message (prefix + blob) byte for byte."""
    result = CliRunner().invoke(cli, ["--config", str(config_file), "mailbox", "show",
                                      "bob@example.test", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.endswith(delivered)
    assert result.stdout_bytes.startswith(b"Return-Path: <sender@remote.test>\r\n")


def test_other_folder_is_empty(roost: Run, delivered: bytes) -> None:
    """--folder picks another mailbox; the default ones exist for every user."""
    assert as_json(roost("mailbox", "list", "bob@example.test", "--folder", "Sent", "--json")) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("list", "nobody@example.test"), "no user nobody@example.test"),
        (("list", "bob@example.test", "--folder", "Nope"), "Nope"),
        (("show", "bob@example.test", "99"), "UID 99"),
    ],
)
def test_errors(roost: Run, delivered: bytes, args: tuple[str, ...], needle: str) -> None:
    """Unknown users, folders and UIDs are one-line errors."""
    result = roost("mailbox", *args, ok=False)
    assert result.exit_code == 1
    assert needle in result.stderr
    assert "Traceback" not in result.output
