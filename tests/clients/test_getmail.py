"""getmail6 against Roost over implicit TLS (getmail6 has no STLS/STARTTLS), into a Maildir,
with the certificate checked against the server's own file (`ca_certs`, `ssl_cert_hostname`)."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.conftest import assert_same, deliver, maildir_messages, require, run, sqlite_only
from tests.integration.harness import ALICE, ALICE_PASSWORD, RunningServer


@pytest.fixture
def maildir(home: Path) -> Iterator[Path]:
    """The destination Maildir. getmail refuses to deliver as root, so when the tests run as
    root it delivers as `nobody` (destination `user`), into a directory `nobody` can reach:
    pytest's tmp_path is under a 0700 root directory, so that one lives in the system temp."""
    if os.geteuid() != 0:
        path = home / "Maildir"
        for sub in ("new", "cur", "tmp"):
            (path / sub).mkdir(parents=True)
        yield path
        return
    nobody = pwd.getpwnam("nobody")
    top = Path(tempfile.mkdtemp(prefix="roost-getmail-"))
    try:
        top.chmod(0o755)
        path = top / "Maildir"
        for sub in ("", "new", "cur", "tmp"):
            (path / sub).mkdir(exist_ok=True)
            os.chown(path / sub, nobody.pw_uid, nobody.pw_gid)
        yield path
    finally:
        shutil.rmtree(top)


def getmail(
    home: Path,
    maildir: Path,
    server: RunningServer,
    cert: Path,
    retriever: str,
    listener: str,
    options: str,
    retriever_options: str = "",
) -> None:
    """Run getmail once with a generated rc file, delivering into `maildir`."""
    exe = require("getmail")
    deliver_as = "user = nobody\n" if os.geteuid() == 0 else ""
    gdir = home / ".getmail"
    gdir.mkdir(exist_ok=True)
    (gdir / "getmailrc").write_text(
        "[retriever]\n"
        f"type = {retriever}\n"
        "server = 127.0.0.1\n"
        f"port = {server.port(listener)}\n"
        f"username = {ALICE}\n"
        f"password = {ALICE_PASSWORD}\n"
        f"ca_certs = {cert}\n"
        "ssl_cert_hostname = localhost\n"
        f"{retriever_options}"
        "[destination]\n"
        "type = Maildir\n"
        f"path = {maildir}/\n"
        f"{deliver_as}"
        "[options]\n"
        "verbose = 2\n"
        "message_log_verbose = true\n"
        f"{options}"
    )
    run([exe, "--getmaildir", str(gdir), "--rcfile", "getmailrc"], home)


def test_pop3s_into_maildir_and_delete(
    server: RunningServer, cert_file: Path, home: Path, maildir: Path
) -> None:
    sent = [deliver(server, ALICE, f"getmail pop3 {i}") for i in range(3)]
    options = "read_all = true\ndelete = true\n"
    getmail(home, maildir, server, cert_file, "SimplePOP3SSLRetriever", "pop3s", options)
    assert_same(maildir_messages(maildir), sent)
    assert server.inbox(ALICE) == []


@sqlite_only
def test_pop3s_keeps_and_remembers(
    server: RunningServer, cert_file: Path, home: Path, maildir: Path
) -> None:
    """Without delete, getmail leaves the messages and (by UIDL) does not fetch them again."""
    sent = [deliver(server, ALICE, f"kept {i}") for i in range(2)]
    options = "read_all = false\ndelete = false\n"
    getmail(home, maildir, server, cert_file, "SimplePOP3SSLRetriever", "pop3s", options)
    assert_same(maildir_messages(maildir), sent)
    sent.append(deliver(server, ALICE, "arrived later"))
    getmail(home, maildir, server, cert_file, "SimplePOP3SSLRetriever", "pop3s", options)
    assert_same(maildir_messages(maildir), sent)
    assert len(server.inbox(ALICE)) == 3


def test_imaps_into_maildir_and_delete(
    server: RunningServer, cert_file: Path, home: Path, maildir: Path
) -> None:
    sent = [deliver(server, ALICE, f"getmail imap {i}") for i in range(3)]
    options = "read_all = true\ndelete = true\n"
    getmail(home, maildir, server, cert_file, "SimpleIMAPSSLRetriever", "imaps", options)
    assert_same(maildir_messages(maildir), sent)
    assert server.inbox(ALICE) == []


@sqlite_only
def test_imaps_two_folders_keep(
    server: RunningServer, cert_file: Path, home: Path, maildir: Path
) -> None:
    """`mailboxes` with two folders; without delete the messages stay, unread (BODY.PEEK)."""
    sent = [deliver(server, ALICE, "inbox one")]
    server.store.create_mailbox(ALICE, "Lists")
    server.store.copy_messages(ALICE, "INBOX", [server.inbox(ALICE)[0].uid], "Lists")
    getmail(
        home,
        maildir,
        server,
        cert_file,
        "SimpleIMAPSSLRetriever",
        "imaps",
        "read_all = true\ndelete = false\n",
        'mailboxes = ("INBOX", "Lists")\n',
    )
    received = maildir_messages(maildir)
    assert len(received) == 2
    assert_same(received[:1], sent)
    assert_same(received[1:], sent)
    assert [m.flags for m in server.inbox(ALICE)] == [frozenset()]
