"""offlineimap3 between Roost (IMAPS, certificate checked against the server's file) and a local
Maildir repository, both ways: INBOX flags, and a message filed into Sent locally.

Only implicit TLS: offlineimap3's STARTTLS (imaplib2 0.0~git20211018) hangs in about a third of
runs after the handshake, against Dovecot 2.3 just the same (its reader thread races the socket
upgrade), so it would make a flaky test of the client rather than of Roost."""

from __future__ import annotations

import time
from pathlib import Path

from tests.clients.conftest import deliver, require, run, split
from tests.integration.harness import ALICE, ALICE_PASSWORD, RunningServer

SENT_LOCAL = (
    b"From: alice@roost.test\nTo: bob@roost.test\nSubject: sent from the laptop\n"
    b"Message-ID: <laptop-1@roost.test>\nDate: Sun, 22 Nov 2026 13:00:00 +0000\n\nHi Bob.\n"
)


def offlineimap(home: Path, server: RunningServer, cert: Path) -> str:
    exe = require("offlineimap")
    rc = home / ".offlineimaprc"
    rc.write_text(
        "[general]\n"
        "accounts = roost\n"
        f"metadata = {home}/.offlineimap\n"
        "ui = basic\n"
        "\n"
        "[Account roost]\n"
        "localrepository = local\n"
        "remoterepository = remote\n"
        "\n"
        "[Repository local]\n"
        "type = Maildir\n"
        f"localfolders = {home}/Mail\n"
        "\n"
        "[Repository remote]\n"
        "type = IMAP\n"
        "remotehost = localhost\n"  # offlineimap matches DNS names only, not the IP SAN
        f"remoteport = {server.port('imaps')}\n"
        f"remoteuser = {ALICE}\n"
        f"remotepass = {ALICE_PASSWORD}\n"
        "ssl = yes\n"
        f"sslcacertfile = {cert}\n"
        "maxconnections = 1\n"
        "holdconnectionopen = no\n"
    )
    result = run([exe, "-c", str(rc), "-o", "-u", "basic"], home)
    output = result.stdout + result.stderr
    assert "ERROR" not in output, output  # offlineimap reports some failures with exit code 0
    return output


def local(home: Path, folder: str) -> dict[str, Path]:
    out = {}
    for sub in ("new", "cur"):
        for path in (home / "Mail" / folder / sub).glob("*"):
            out[split(path.read_bytes())[0]] = path
    return out


def test_two_way_with_sent_folder(server: RunningServer, cert_file: Path, home: Path) -> None:
    a, b = (deliver(server, ALICE, f"offlineimap {i}") for i in range(2))
    offlineimap(home, server, cert_file)
    inbox = local(home, "INBOX")
    assert set(inbox) == {a.message_id, b.message_id}
    assert (home / "Mail" / "Sent").is_dir()

    # Locally: A read, a message filed in Sent.
    path = inbox[a.message_id]
    base = path.name.split(":2,")[0]
    path.rename(path.parent.parent / "cur" / f"{base}:2,S")
    sent_dir = home / "Mail" / "Sent" / "cur"
    sent_dir.mkdir(parents=True, exist_ok=True)
    (sent_dir / f"{int(time.time())}.laptop1.roost-test:2,S").write_bytes(SENT_LOCAL)
    offlineimap(home, server, cert_file)

    flags = {split(server.message_bytes(m))[0]: m.flags for m in server.inbox(ALICE)}
    assert flags == {a.message_id: frozenset({"\\Seen"}), b.message_id: frozenset()}
    (sent,) = server.inbox(ALICE, "Sent")
    assert split(server.message_bytes(sent))[0] == "<laptop-1@roost.test>"
    assert sent.flags == frozenset({"\\Seen"})

    # On the server: B flagged; the next run brings the flag down.
    uid_b = next(m.uid for m in server.inbox(ALICE) if not m.flags)
    server.store.store_flags(ALICE, "INBOX", [uid_b], frozenset({"\\Flagged"}), "add")
    offlineimap(home, server, cert_file)
    assert local(home, "INBOX")[b.message_id].name.endswith(":2,F")
