"""fetchmail, the classic POP3/IMAP retriever, against Roost: STLS/STARTTLS with the certificate
checked against the server's own file, messages handed to an MDA one file each, then deleted."""

from __future__ import annotations

from pathlib import Path

from roost.store.types import StoredMessage
from tests.clients.conftest import PYTHON, assert_same, deliver, require, run, split, sqlite_only
from tests.integration.harness import ALICE, ALICE_PASSWORD, RunningServer

# One file per message: the MDA fetchmail runs for every message it retrieves.
MDA = """import os, sys, uuid
data = sys.stdin.buffer.read()
with open(os.path.join(sys.argv[1], uuid.uuid4().hex), "wb") as f:
    f.write(data)
"""


def fetchmail(
    home: Path,
    server: RunningServer,
    cert: Path,
    proto: str,
    listener: str,
    extra: str = "fetchall",
    server_options: str = "",
    ok_codes: tuple[int, ...] = (0,),
) -> tuple[Path, str]:
    """Run fetchmail once (no daemon) with a generated rcfile; returns (output dir, log)."""
    exe = require("fetchmail")
    out = home / "delivered"
    out.mkdir(exist_ok=True)
    mda = home / "mda.py"
    mda.write_text(MDA)
    rc = home / ".fetchmailrc"
    rc.write_text(
        "set no bouncemail\n"
        f"poll localhost via 127.0.0.1 with proto {proto} port {server.port(listener)}"
        f" {server_options}\n"
        f'  user "{ALICE}" there with password "{ALICE_PASSWORD}" is root here\n'
        f'  sslproto "tls1.2+" sslcertck sslcertfile "{cert}" sslcommonname localhost\n'
        f'  mda "{PYTHON} {mda} {out}"\n'
        f"  {extra}\n"
    )
    rc.chmod(0o600)
    result = run(
        [exe, "--nodetach", "--nosyslog", "-v", "-f", str(rc), "--pidfile", str(home / "fm.pid")],
        home,
        ok_codes,
        FETCHMAILHOME=str(home),
    )
    return out, result.stdout + result.stderr


def delivered(out: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(out.iterdir())]


def test_pop3_stls_fetch_and_delete(server: RunningServer, cert_file: Path, home: Path) -> None:
    """Three messages over POP3 after STLS; fetchmail deletes them, so the INBOX ends empty."""
    sent = [deliver(server, ALICE, f"pop3 message {i}") for i in range(3)]
    out, log = fetchmail(home, server, cert_file, "POP3", "pop3")
    assert "STLS" in log, log  # it upgraded the plain connection, as asked
    assert_same(delivered(out), sent)
    assert server.inbox(ALICE) == []


@sqlite_only
def test_pop3_keep_leaves_messages(server: RunningServer, cert_file: Path, home: Path) -> None:
    """With `keep` the messages stay on the server; a second run with `uidl` fetches nothing new."""
    sent = [deliver(server, ALICE, f"kept {i}") for i in range(2)]
    out, _ = fetchmail(home, server, cert_file, "POP3", "pop3", "keep fetchall", "uidl")
    assert_same(delivered(out), sent)
    assert len(server.inbox(ALICE)) == 2
    out2, log = fetchmail(home, server, cert_file, "POP3", "pop3", "keep", "uidl", (1,))
    assert len(delivered(out2)) == 2, log  # status 1: no new mail, nothing fetched twice


@sqlite_only
def test_pop3s_implicit_tls(server: RunningServer, cert_file: Path, home: Path) -> None:
    sent = [deliver(server, ALICE, "over pop3s")]
    out, _ = fetchmail(home, server, cert_file, "POP3", "pop3s", "fetchall ssl")
    assert_same(delivered(out), sent)
    assert server.inbox(ALICE) == []


def test_imap_starttls_keep_then_delete(server: RunningServer, cert_file: Path, home: Path) -> None:
    """IMAP after STARTTLS: `keep` marks the messages \\Seen and leaves them; the next run
    (fetchall, no keep) fetches them again and deletes them (\\Deleted + EXPUNGE)."""
    sent = [deliver(server, ALICE, f"imap message {i}") for i in range(3)]
    out, log = fetchmail(home, server, cert_file, "IMAP", "imap", "keep")
    assert "STARTTLS" in log, log
    assert_same(delivered(out), sent)
    stored = server.inbox(ALICE)
    assert [m.flags for m in stored] == [frozenset({"\\Seen"})] * 3
    for old in out.iterdir():
        old.unlink()
    out, _ = fetchmail(home, server, cert_file, "IMAP", "imap", "fetchall")
    assert_same(delivered(out), sent)
    assert server.inbox(ALICE) == []


@sqlite_only
def test_imap_only_new_messages(server: RunningServer, cert_file: Path, home: Path) -> None:
    """Without fetchall, fetchmail takes only unseen messages (SEARCH UNSEEN)."""
    first = deliver(server, ALICE, "seen already")
    (msg,) = server.inbox(ALICE)
    server.store.store_flags(ALICE, "INBOX", [msg.uid], frozenset({"\\Seen"}), "add")
    fresh = deliver(server, ALICE, "brand new")
    out, _ = fetchmail(home, server, cert_file, "IMAP", "imap", "")
    assert_same(delivered(out), [fresh])
    assert [split_subject(server, m) for m in server.inbox(ALICE)] == [first.subject]


def split_subject(server: RunningServer, msg: StoredMessage) -> str:
    return split(server.message_bytes(msg))[1]
