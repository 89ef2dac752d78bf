"""`roost mailbox import|export`: move a user's mail in and out as Maildir (or mbox, in)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import click

from roost.accounts.addresses import normalize_address
from roost.cli.context import CliState, fail, pass_state
from roost.message.maildir import (
    INBOX,
    ImportedMessage,
    export_file_name,
    mailbox_to_folder,
    read_maildir,
    read_mbox,
)
from roost.message.wire import compute_structure
from roost.store.interface import BlobStore, Store
from roost.store.types import StoredMessage


def _user(store: Store, email: str) -> str:
    try:
        user = normalize_address(email)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if store.get_user(user) is None:
        raise fail(f"no user {user}")
    return user


def _is_maildir(path: Path) -> bool:
    return path.is_dir() and all((path / sub).is_dir() for sub in ("cur", "new"))


@click.command(name="import")
@click.argument("email")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--folder",
    default=INBOX,
    show_default=True,
    help="Mailbox an mbox file is imported into (a Maildir keeps its own folders).",
)
@pass_state
def import_cmd(state: CliState, email: str, path: Path, folder: str) -> None:
    """Import a Maildir (with Maildir++ subfolders) or an mbox file into a user's mailboxes.

    Maildir info flags (:2,DFRST) and mbox Status/X-Status headers become IMAP flags; the
    INTERNALDATE is the file's mtime (Maildir) or the "From " line's date (mbox). Missing
    mailboxes are created. Not idempotent: importing the same mail twice stores it twice.
    """
    if path.is_dir():
        if not _is_maildir(path):
            raise fail(f"{path} is a directory but not a Maildir (no cur/ and new/)")
        messages = read_maildir(str(path))
    else:
        messages = read_mbox(str(path), INBOX if folder.upper() == INBOX else folder)
    blobs = state.blobs()
    counts: Counter[str] = Counter()
    with state.store() as store:
        user = _user(store, email)
        known = {b.name for b in store.list_mailboxes(user)}
        for msg in messages:
            if msg.mailbox not in known:
                store.create_mailbox(user, msg.mailbox)
                known.add(msg.mailbox)
                click.echo(f"created mailbox {msg.mailbox}")
            _append(store, blobs, user, msg)
            counts[msg.mailbox] += 1
    for name, count in counts.items():
        click.echo(f"{name}: {count} message{'' if count == 1 else 's'}")
    click.echo(f"imported {sum(counts.values())} messages for {user}")


def _append(store: Store, blobs: BlobStore, user: str, msg: ImportedMessage) -> None:
    """Blob first (small ones are committed to the database by put, large ones synced to
    disk), then the message row: append_message's contract for body=None. The IMAP structure
    is stored with the row, as at delivery."""
    ref = blobs.put(msg.data)
    blobs.sync([ref])
    store.append_message(
        user,
        msg.mailbox,
        ref,
        None,
        msg.flags,
        msg.internal_date,
        structure=compute_structure(msg.data),
    )


@click.command(name="export")
@click.argument("email")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Write into an existing non-empty directory.")
@pass_state
def export_cmd(state: CliState, email: str, path: Path, force: bool) -> None:
    """Export all of a user's mailboxes as a new Maildir at PATH.

    INBOX goes to cur/, the others to Maildir++ subfolders (".Sent", ".Foo.Bar" for Foo/Bar).
    Each file is the message exactly as stored, named
    <internal date>.<uidvalidity>_<uid>.roost:2,<flags>, its mtime the INTERNALDATE.
    Keywords have no Maildir letter and are not exported.
    """
    if path.exists() and any(path.iterdir()) and not force:
        raise fail(f"{path} exists and is not empty (use --force to write into it)")
    with state.store() as store:
        user = _user(store, email)
        boxes = store.list_mailboxes(user)
        try:
            folders = {
                b.name: ("" if b.name == INBOX else mailbox_to_folder(b.name)) for b in boxes
            }
        except ValueError as exc:
            raise fail(str(exc)) from None
        contents = {b.name: (b.uidvalidity, store.list_messages(user, b.name)) for b in boxes}
    blobs = state.blobs()
    for box in boxes:
        target = path / folders[box.name]
        uidvalidity, messages = contents[box.name]
        _make_maildir(target, subfolder=box.name != INBOX)
        for msg in messages:
            _write(target, blobs, uidvalidity, msg)
        click.echo(f"{box.name}: {len(messages)} message{'' if len(messages) == 1 else 's'}")
    click.echo(f"exported {sum(len(m) for _, m in contents.values())} messages to {path}")


def _make_maildir(path: Path, *, subfolder: bool) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    if subfolder:
        (path / "maildirfolder").touch()


def _write(target: Path, blobs: BlobStore, uidvalidity: int, msg: StoredMessage) -> None:
    """tmp/ then rename into cur/, as Maildir delivery does; mtime = INTERNALDATE."""
    name = export_file_name(msg.internal_date, uidvalidity, msg.uid, msg.flags)
    tmp = target / "tmp" / name
    with open(tmp, "wb") as f:
        f.write(msg.prefix)
        f.write(blobs.get(msg.blob))
    stamp = msg.internal_date.timestamp()
    os.utime(tmp, (stamp, stamp))
    os.replace(tmp, target / "cur" / name)
