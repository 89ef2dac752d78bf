"""mbsync (isync) between Roost (the Far IMAP store, STARTTLS with CertificateFile) and a local
Maildir (the Near store), in both directions: flags, deletions and new messages."""

from __future__ import annotations

import time
from pathlib import Path

from tests.clients.conftest import deliver, require, run, split, sqlite_only
from tests.integration.harness import ALICE, ALICE_PASSWORD, RunningServer

NEW_LOCAL = (
    b"From: alice@roost.test\nTo: bob@roost.test\nSubject: written offline\n"
    b"Message-ID: <offline-1@roost.test>\nDate: Sun, 22 Nov 2026 12:30:00 +0000\n\n"
    b"Composed on the plane.\n"
)


def mbsync(home: Path, server: RunningServer, cert: Path, ssl_type: str = "STARTTLS") -> str:
    exe = require("mbsync")
    listener = "imap" if ssl_type == "STARTTLS" else "imaps"
    (home / "Mail").mkdir(exist_ok=True)
    rc = home / ".mbsyncrc"
    rc.write_text(
        "IMAPAccount roost\n"
        "Host 127.0.0.1\n"
        f"Port {server.port(listener)}\n"
        f"User {ALICE}\n"
        f"Pass {ALICE_PASSWORD}\n"
        f"SSLType {ssl_type}\n"
        f"CertificateFile {cert}\n"
        "\n"
        "IMAPStore roost-far\n"
        "Account roost\n"
        "\n"
        "MaildirStore near\n"
        f"Path {home}/Mail/\n"
        f"Inbox {home}/Mail/INBOX\n"
        "SubFolders Verbatim\n"
        "\n"
        "Channel roost\n"
        "Far :roost-far:\n"
        "Near :near:\n"
        "Patterns *\n"
        "Create Both\n"
        "Expunge Both\n"
        "SyncState *\n"
        "Sync All\n"
    )
    result = run([exe, "-c", str(rc), "-V", "-a"], home)
    return result.stdout + result.stderr


def local_messages(home: Path, folder: str = "INBOX") -> dict[str, Path]:
    """Message-ID -> file of every message in a local folder."""
    out = {}
    for sub in ("new", "cur"):
        for path in (home / "Mail" / folder / sub).glob("*"):
            out[split(path.read_bytes())[0]] = path
    return out


def set_info(path: Path, letters: str) -> Path:
    """Move a Maildir message to cur/ with exactly these info flags (sorted, as Maildir wants)."""
    base = path.name.split(":2,")[0]
    target = path.parent.parent / "cur" / f"{base}:2,{''.join(sorted(letters))}"
    path.rename(target)
    return target


def info(path: Path) -> str:
    return path.name.split(":2,")[1] if ":2," in path.name else ""


def test_two_way_sync(server: RunningServer, cert_file: Path, home: Path) -> None:
    a, b, c = (deliver(server, ALICE, f"mbsync {i}") for i in range(3))
    mbsync(home, server, cert_file)
    local = local_messages(home)
    assert set(local) == {a.message_id, b.message_id, c.message_id}
    assert (home / "Mail" / "Sent").is_dir()  # the server's folders were created locally

    # Offline changes: A read and flagged, B deleted (T, expunged by the sync), D written.
    set_info(local[a.message_id], "FS")
    set_info(local[b.message_id], "ST")
    new = home / "Mail" / "INBOX" / "cur" / f"{int(time.time())}.offline1.roost-test:2,S"
    new.write_bytes(NEW_LOCAL)
    mbsync(home, server, cert_file)

    by_id = {split(server.message_bytes(m))[0]: m for m in server.inbox(ALICE)}
    assert set(by_id) == {a.message_id, c.message_id, "<offline-1@roost.test>"}
    assert by_id[a.message_id].flags == frozenset({"\\Seen", "\\Flagged"})
    assert by_id[c.message_id].flags == frozenset()
    assert by_id["<offline-1@roost.test>"].flags == frozenset({"\\Seen"})
    assert split(server.message_bytes(by_id["<offline-1@roost.test>"]))[2] == (
        b"Composed on the plane.\n"
    )

    # A change made on the server (another client answered C) reaches the Maildir.
    server.store.store_flags(
        ALICE, "INBOX", [by_id[c.message_id].uid], frozenset({"\\Answered"}), "add"
    )
    mbsync(home, server, cert_file)
    local = local_messages(home)
    assert set(local) == {a.message_id, c.message_id, "<offline-1@roost.test>"}
    assert info(local[c.message_id]) == "R"
    assert info(local[a.message_id]) == "FS"


@sqlite_only
def test_imaps_and_folders(server: RunningServer, cert_file: Path, home: Path) -> None:
    """Over implicit TLS: a folder created locally appears on the server with its message."""
    deliver(server, ALICE, "in the inbox")
    mbsync(home, server, cert_file, "IMAPS")
    folder = home / "Mail" / "Projects"
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    (folder / "cur" / f"{int(time.time())}.proj1.roost-test:2,").write_bytes(NEW_LOCAL)
    mbsync(home, server, cert_file, "IMAPS")
    (msg,) = server.inbox(ALICE, "Projects")
    assert split(server.message_bytes(msg))[0] == "<offline-1@roost.test>"
    assert len(server.inbox(ALICE)) == 1
