"""`roost mailbox import|export`: Maildir round trip, mbox flags, byte-exact bodies."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from roost.store.types import StoredMessage
from tests.cli.helpers import Run, as_json, open_from

BOB = "bob@example.test"
T1 = 1_700_000_000
T2 = 1_600_000_000


def _setup(roost: Run) -> None:
    roost("domain", "add", "example.test")
    roost("user", "add", BOB, "--password-stdin", input="pw\n")


def _msg(subject: str, extra: bytes = b"") -> bytes:
    # CRLF and a bare LF mixed, 8-bit bytes, trailing spaces: all must survive unchanged
    return (
        b"From: a@remote.test\r\nSubject: "
        + subject.encode()
        + b"\r\n\r\nbody \xe9 \n>From x\r\n"
        + extra
    )


def _put(folder: Path, sub: str, name: str, data: bytes, mtime: int) -> None:
    for d in ("cur", "new", "tmp"):
        (folder / d).mkdir(parents=True, exist_ok=True)
    path = folder / sub / name
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def _messages(config_file: Path, mailbox: str) -> list[StoredMessage]:
    store = open_from(config_file)
    try:
        return store.list_messages(BOB, mailbox)
    finally:
        store.close()


BIG = b"x" * 70_000 + b"\r\n"  # above the default inline_blob_max: goes to the file tier
FIXTURE = {
    # (folder dir, subdir, file name): (IMAP mailbox, data, mtime, flags)
    ("", "cur", "1.a.host:2,S"): ("INBOX", _msg("seen"), T1, {"\\Seen"}),
    ("", "new", "2.b.host"): ("INBOX", _msg("new"), T2, set()),
    ("", "cur", "3.c.host:2,DFPRST"): (
        "INBOX",
        _msg("all", BIG),
        T1 + 5,
        {"\\Draft", "\\Flagged", "\\Answered", "\\Seen", "\\Deleted"},
    ),
    (".Sent", "cur", "4.d.host:2,RS"): ("Sent", _msg("sent"), T2 + 1, {"\\Answered", "\\Seen"}),
    (".Foo.Bar", "cur", "5.e.host:2,F"): ("Foo/Bar", _msg("deep"), T2 + 2, {"\\Flagged"}),
}


def _build_maildir(root: Path) -> None:
    for (folder, sub, name), (_, data, mtime, _) in FIXTURE.items():
        _put(root / folder if folder else root, sub, name, data, mtime)


def test_maildir_round_trip(roost: Run, config_file: Path, tmp_path: Path) -> None:
    _setup(roost)
    src = tmp_path / "src"
    _build_maildir(src)
    out = roost("mailbox", "import", BOB, str(src)).stdout
    assert "INBOX: 3 messages" in out
    assert "Foo/Bar: 1 message" in out
    assert "created mailbox Foo/Bar" in out

    stored = {}
    for box in ("INBOX", "Sent", "Foo/Bar"):
        for m in _messages(config_file, box):
            stored[(box, m.blob.digest)] = m
    assert len(stored) == 5
    for mailbox, data, mtime, flags in FIXTURE.values():
        found = [m for (b, _), m in stored.items() if b == mailbox and m.blob.size == len(data)]
        assert len(found) == 1
        assert found[0].flags == frozenset(flags)
        assert found[0].internal_date == datetime.fromtimestamp(mtime, UTC)
        assert found[0].prefix == b""
        shown = roost("mailbox", "show", BOB, str(found[0].uid), "--folder", mailbox)
        assert shown.stdout_bytes == data

    uidvalidity = {
        r["name"]: r["uidvalidity"] for r in as_json(roost("mailbox", "folders", BOB, "--json"))
    }
    dest = tmp_path / "dest"
    out = roost("mailbox", "export", BOB, str(dest)).stdout
    assert "exported 5 messages" in out
    for d in ("cur", "new", "tmp"):
        assert (dest / d).is_dir()
    assert (dest / ".Foo.Bar" / "maildirfolder").exists()
    assert (dest / ".Trash" / "cur").is_dir()  # empty default mailboxes are kept as folders
    exported: dict[tuple[str, bytes], tuple[str, int]] = {}
    for folder in ("", ".Sent", ".Foo.Bar"):
        for f in (dest / folder / "cur").iterdir():
            exported[(folder, f.read_bytes())] = (f.name, int(f.stat().st_mtime))
        assert not any((dest / folder / "new").iterdir())
    assert len(exported) == 5
    letters = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S"}
    letters["\\Deleted"] = "T"
    for (folder, _, _), (mailbox, data, mtime, flags) in FIXTURE.items():
        name, got_mtime = exported[(folder, data)]
        assert got_mtime == mtime
        box_messages = {m.blob.size: m for m in _messages(config_file, mailbox)}
        uid = box_messages[len(data)].uid
        info = "".join(sorted(letters[f] for f in flags))
        assert name == f"{mtime}.{uidvalidity[mailbox]}_{uid}.roost:2,{info}"

    # and back again into another user: the same messages and flags
    roost("user", "add", "eve@example.test", "--password-stdin", input="pw\n")
    roost("mailbox", "import", "eve@example.test", str(dest))
    store = open_from(config_file)
    try:
        for box in ("INBOX", "Sent", "Foo/Bar"):
            a = {(m.blob, m.flags, m.internal_date) for m in store.list_messages(BOB, box)}
            b = {
                (m.blob, m.flags, m.internal_date)
                for m in store.list_messages("eve@example.test", box)
            }
            assert a == b
    finally:
        store.close()


MBOX = (
    b"From alice@remote.test Sat Jan  3 01:05:34 1996\n"
    b"From: alice@remote.test\nSubject: one\nStatus: RO\nX-Status: AF\n\nfirst\n>From here\n\n"
    b"From bob@remote.test Mon Feb  5 10:00:00 2001\n"
    b"From: bob@remote.test\nSubject: two\nStatus: O\n\nsecond\n\n"
    b"From carol@remote.test not a date\n"
    b"From: carol@remote.test\nSubject: three\nX-Status: DT\n\nthird\n"
)


def test_mbox_import_with_status(roost: Run, config_file: Path, tmp_path: Path) -> None:
    _setup(roost)
    mbox = tmp_path / "mail.mbox"
    mbox.write_bytes(MBOX)
    before = datetime.now(UTC)
    out = roost("mailbox", "import", BOB, str(mbox), "--folder", "Old/2001").stdout
    assert "Old/2001: 3 messages" in out
    msgs = _messages(config_file, "Old/2001")
    assert [m.flags for m in msgs] == [
        frozenset({"\\Seen", "\\Answered", "\\Flagged"}),
        frozenset(),
        frozenset({"\\Deleted", "\\Draft"}),
    ]
    assert msgs[0].internal_date == datetime(1996, 1, 3, 1, 5, 34, tzinfo=UTC)
    assert msgs[1].internal_date == datetime(2001, 2, 5, 10, 0, tzinfo=UTC)
    assert msgs[2].internal_date >= before.replace(microsecond=0)
    first = roost("mailbox", "show", BOB, str(msgs[0].uid), "--folder", "Old/2001").stdout_bytes
    assert first == (
        b"From: alice@remote.test\nSubject: one\nStatus: RO\nX-Status: AF\n\nfirst\n>From here\n"
    )
    third = roost("mailbox", "show", BOB, str(msgs[2].uid), "--folder", "Old/2001").stdout_bytes
    assert third == b"From: carol@remote.test\nSubject: three\nX-Status: DT\n\nthird\n"


def test_mbox_import_default_inbox(roost: Run, config_file: Path, tmp_path: Path) -> None:
    _setup(roost)
    mbox = tmp_path / "mail.mbox"
    mbox.write_bytes(MBOX)
    roost("mailbox", "import", BOB, str(mbox))
    assert len(_messages(config_file, "INBOX")) == 3


def test_export_refuses_non_empty_dir(roost: Run, tmp_path: Path) -> None:
    _setup(roost)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    result = roost("mailbox", "export", BOB, str(dest), ok=False)
    assert result.exit_code == 1
    assert "not empty" in result.stderr
    assert "Traceback" not in result.output
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]
    roost("mailbox", "export", BOB, str(dest), "--force")
    assert (dest / "cur").is_dir()
    assert (dest / "keep.txt").read_text() == "mine"


def test_import_errors(roost: Run, tmp_path: Path) -> None:
    _setup(roost)
    src = tmp_path / "src"
    _build_maildir(src)
    result = roost("mailbox", "import", "nobody@example.test", str(src), ok=False)
    assert result.exit_code == 1
    assert "no user nobody@example.test" in result.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    result = roost("mailbox", "import", BOB, str(plain), ok=False)
    assert result.exit_code == 1
    assert "not a Maildir" in result.stderr
