"""`roost queue list|show|hold|release|delete` on messages enqueued through the Store API."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.config import load_config
from roost.store import open_blobs
from roost.store.types import NewRecipient
from tests.cli.helpers import Run, as_json, enqueue, open_from

MESSAGE = (
    b"From: Sender <sender@remote.test>\r\n"
    b"To: someone@far.test\r\n"
    b"Subject: queued\r\n"
    b"\r\n"
    b"body line\r\n"
)
REMOTE = (NewRecipient("someone@far.test"), NewRecipient("other@far.test"))


@pytest.fixture
def queued(config_file: Path) -> str:
    return enqueue(config_file, MESSAGE, REMOTE)


def test_list_json(roost: Run, queued: str) -> None:
    """list --json has the id, state, size, sender and each recipient's status."""
    [row] = as_json(roost("queue", "list", "--json"))
    assert row["queue_id"] == queued
    assert row["state"] == "incoming"
    assert row["sender"] == "sender@remote.test"
    assert row["size"] > len(MESSAGE)  # prefix + blob
    assert [(r["address"], r["status"]) for r in row["recipients"]] == [
        ("someone@far.test", "pending"),
        ("other@far.test", "pending"),
    ]
    assert {"received_at", "next_attempt", "attempts"} <= set(row)


def test_list_table(roost: Run, queued: str) -> None:
    """The table shows the id and recipients with status."""
    out = roost("queue", "list").stdout
    assert queued in out
    assert "someone@far.test (pending)" in out


def test_show_has_envelope_and_headers(roost: Run, queued: str) -> None:
    """show prints the envelope, recipients and the headers (prefix included), not the body."""
    out = roost("queue", "show", queued).stdout
    assert f"Queue ID:  {queued}" in out
    assert "Sender:    <sender@remote.test>" in out
    assert "Recipient: <other@far.test> pending" in out
    assert "Received: from client.remote.test" in out
    assert "Subject: queued" in out
    assert "body line" not in out
    data = as_json(roost("queue", "show", queued, "--json"))
    assert "Subject: queued" in data["headers"]


def test_hold_and_release(roost: Run, queued: str) -> None:
    """hold moves the entry to the hold state; release brings it back to incoming."""
    roost("queue", "hold", queued)
    assert as_json(roost("queue", "list", "--json"))[0]["state"] == "hold"
    roost("queue", "release", queued)
    assert as_json(roost("queue", "list", "--json"))[0]["state"] == "incoming"


@pytest.mark.parametrize("padding", [0, 70_000], ids=["inline", "file"])
def test_delete_removes_rows_and_unused_blob(roost: Run, config_file: Path, padding: int) -> None:
    """delete removes the entry and, since nothing else uses it, the blob (in either tier)."""
    queued = enqueue(config_file, MESSAGE + b"x" * padding + b"\r\n", REMOTE)
    store = open_from(config_file)
    try:
        entry = store.get_queue_entry(queued)
    finally:
        store.close()
    assert entry is not None
    store = open_from(config_file)
    try:
        blobs = open_blobs(load_config(config_file), store)
        assert blobs.exists(entry.blob)
        roost("queue", "delete", queued)
        assert as_json(roost("queue", "list", "--json")) == []
        assert not blobs.exists(entry.blob)
    finally:
        store.close()


def test_delete_keeps_a_shared_blob(roost: Run, config_file: Path, queued: str) -> None:
    """Two entries with the same content share a blob; deleting one keeps it for the other."""
    other = enqueue(config_file, MESSAGE, REMOTE)
    roost("queue", "delete", queued)
    [row] = as_json(roost("queue", "list", "--json"))
    assert row["queue_id"] == other
    assert "Subject: queued" in roost("queue", "show", other).stdout


@pytest.mark.parametrize("command", ["show", "hold", "release", "delete"])
def test_unknown_id(roost: Run, command: str) -> None:
    """An unknown queue id is a one-line error naming it."""
    result = roost("queue", command, "NOSUCHID", ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("roost: ")
    assert "NOSUCHID" in result.stderr
    assert "Traceback" not in result.output


def test_empty_queue(roost: Run) -> None:
    """An empty queue is [] in JSON."""
    assert as_json(roost("queue", "list", "--json")) == []
    assert "empty" in roost("queue", "list").stdout
