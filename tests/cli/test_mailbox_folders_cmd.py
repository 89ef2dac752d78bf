"""`roost mailbox folders`: every mailbox of a user with its IMAP counters."""

from __future__ import annotations

from pathlib import Path

from roost.store.types import NewRecipient
from tests.cli.helpers import Run, as_json, enqueue, open_from

BOB = "bob@example.test"
MESSAGE = b"From: a@remote.test\r\nSubject: hi\r\n\r\nhello\r\n"


def test_folders_lists_counters(roost: Run, config_file: Path) -> None:
    roost("domain", "add", "example.test")
    roost("user", "add", BOB, "--password-stdin", input="pw\n")
    enqueue(config_file, MESSAGE, (NewRecipient(BOB, deliver_to=BOB),))
    store = open_from(config_file)
    try:
        store.create_mailbox(BOB, "Projects")
        store.set_subscribed(BOB, "Junk", False)
        inbox = store.get_mailbox(BOB, "INBOX")
    finally:
        store.close()
    assert inbox is not None
    rows = {
        r["name"]: r for r in as_json(roost("mailbox", "folders", "Bob@Example.test", "--json"))
    }
    assert list(rows) == ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Projects"]
    assert rows["INBOX"] == {
        "name": "INBOX",
        "messages": 1,
        "uidvalidity": inbox.uidvalidity,
        "uidnext": 2,
        "highestmodseq": inbox.highestmodseq,
        "subscribed": True,
        "special_use": None,
    }
    assert rows["Junk"]["subscribed"] is False
    assert rows["Sent"]["special_use"] == "\\Sent"
    assert rows["Projects"]["messages"] == 0
    assert rows["Projects"]["uidvalidity"] > rows["Archive"]["uidvalidity"]
    table = roost("mailbox", "folders", BOB).stdout
    assert "HIGHESTMODSEQ" in table
    assert "Projects" in table


def test_folders_unknown_user(roost: Run) -> None:
    result = roost("mailbox", "folders", "nobody@example.test", ok=False)
    assert result.exit_code == 1
    assert "no user nobody@example.test" in result.stderr
    assert "Traceback" not in result.output
