"""Reading Maildir / mbox and naming Maildir files, for `roost mailbox import|export`.

Both formats are read with the stdlib `mailbox` module, so its rules apply: an mbox message is
split at "From " lines (the line itself is dropped, ">From " quoting is left as the module
leaves it); a Maildir message is its file's bytes, unchanged. Maildir++ folders (".Foo.Bar")
map to IMAP names with "/" as the delimiter ("Foo/Bar"); INBOX is the Maildir root.
"""

from __future__ import annotations

import mailbox
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32

INBOX = "INBOX"

# Maildir info letters (":2,...") <-> IMAP system flags; P (passed) has no IMAP flag.
MAILDIR_FLAGS: dict[str, str] = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
_FLAG_LETTERS = {flag.lower(): letter for letter, flag in MAILDIR_FLAGS.items()}

# mbox Status / X-Status letters; O (old, not recent) has no IMAP flag.
MBOX_FLAGS: dict[str, str] = {
    "R": "\\Seen",
    "A": "\\Answered",
    "F": "\\Flagged",
    "D": "\\Deleted",
    "T": "\\Draft",
}


@dataclass(frozen=True, slots=True)
class ImportedMessage:
    """One message read from a Maildir or mbox, ready for Store.append_message."""

    mailbox: str  # IMAP name, "INBOX" for the Maildir root / an mbox's target folder
    data: bytes
    flags: frozenset[str]
    internal_date: datetime


def maildir_flags(info: str) -> frozenset[str]:
    """IMAP flags from a Maildir info string ("2,FS"); experimental ("1,...") info is ignored."""
    if not info.startswith("2,"):
        return frozenset()
    return frozenset(MAILDIR_FLAGS[c] for c in info[2:] if c in MAILDIR_FLAGS)


def flag_letters(flags: frozenset[str]) -> str:
    """Maildir info letters for these IMAP flags, in ASCII order; keywords have no letter."""
    return "".join(sorted({_FLAG_LETTERS[f.lower()] for f in flags if f.lower() in _FLAG_LETTERS}))


def mbox_flags(status: str) -> frozenset[str]:
    """IMAP flags from the Status and X-Status header values, concatenated."""
    return frozenset(MBOX_FLAGS[c] for c in status if c in MBOX_FLAGS)


def folder_to_mailbox(folder: str) -> str:
    """A Maildir++ folder name without its leading dot ("Foo.Bar") -> IMAP name ("Foo/Bar")."""
    name = folder.replace(".", "/")
    return INBOX if name.upper() == INBOX else name


def mailbox_to_folder(name: str) -> str:
    """An IMAP name ("Foo/Bar") -> Maildir++ directory name (".Foo.Bar"); ValueError for a name
    Maildir++ cannot hold (one with a "." in it would come back as another hierarchy)."""
    if "." in name:
        raise ValueError(f"mailbox {name!r} contains '.', which Maildir++ uses as its delimiter")
    return "." + name.replace("/", ".")


def export_file_name(
    internal_date: datetime, uidvalidity: int, uid: int, flags: frozenset[str]
) -> str:
    return f"{int(internal_date.timestamp())}.{uidvalidity}_{uid}.roost:2,{flag_letters(flags)}"


def _mtime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def read_maildir(path: str) -> Iterator[ImportedMessage]:
    """Every message of the Maildir at `path` and of its Maildir++ subfolders, root first."""
    root = mailbox.Maildir(path, factory=None, create=False)
    yield from _read_one_maildir(root, INBOX)
    for folder in sorted(root.list_folders()):
        yield from _read_one_maildir(root.get_folder(folder), folder_to_mailbox(folder))


def _read_one_maildir(box: mailbox.Maildir, name: str) -> Iterator[ImportedMessage]:
    for key in sorted(box.iterkeys()):
        msg = box.get_message(key)
        with box.get_file(key) as f:
            data = f.read()
        yield ImportedMessage(name, data, maildir_flags(msg.get_info()), _mtime(msg.get_date()))


def read_mbox(path: str, folder: str) -> Iterator[ImportedMessage]:
    """Every message of the mbox file at `path`, all into `folder`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no mbox file {path}")
    box = mailbox.mbox(path, factory=None, create=False)
    try:  # not locked: a lock file needs write access, and an import reads a copy at rest
        for key in box.iterkeys():
            raw = box.get_bytes(key, from_=True)
            from_line, _, data = raw.partition(b"\n")
            headers = BytesHeaderParser(policy=compat32).parsebytes(data)
            status = str(headers.get("Status", "")) + str(headers.get("X-Status", ""))
            when = from_line_date(from_line.decode("latin-1")) or datetime.now(UTC)
            yield ImportedMessage(folder, data, mbox_flags(status), when)
    finally:
        box.close()


def from_line_date(line: str) -> datetime | None:
    """The date of an mbox "From sender Sat Jan  3 01:05:34 1996" line (taken as UTC), or None."""
    words = line.split()
    if len(words) < 6 or words[0] != "From":
        return None
    for tail in (words[-5:], words[2:7]):  # date last, or followed by a zone ("+0000")
        try:
            parsed = time.strptime(" ".join(tail), "%a %b %d %H:%M:%S %Y")
        except ValueError:
            continue
        return datetime(*parsed[:6], tzinfo=UTC)
    return None
