"""`roost mailbox list|show|folders`: look at a user's stored mail without an IMAP client."""

from __future__ import annotations

import sys
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

import click

from roost.accounts.addresses import normalize_address
from roost.cli.context import CliState, fail, pass_state
from roost.cli.mailbox_io import export_cmd, import_cmd
from roost.cli.output import json_option, render
from roost.cli.queue import header_block
from roost.store.interface import Store
from roost.store.types import StoredMessage

folder_option = click.option(
    "--folder", default="INBOX", show_default=True, help="Mailbox (IMAP folder) name."
)


def _address(text: str) -> str:
    try:
        return normalize_address(text)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _check_mailbox(store: Store, user: str, folder: str) -> str:
    """The folder's stored name; INBOX is case-insensitive (RFC 9051 §5.1)."""
    if store.get_user(user) is None:
        raise fail(f"no user {user}")
    name = "INBOX" if folder.upper() == "INBOX" else folder
    if store.get_mailbox(user, name) is None:
        raise fail(f"no mailbox {name!r} for {user}")
    return name


def parse_headers(data: bytes) -> EmailMessage:
    """Headers only, with RFC 2047 encoded words decoded by the default policy."""
    msg = BytesHeaderParser(policy=default_policy).parsebytes(data)
    assert isinstance(msg, EmailMessage)
    return msg


def _header(msg: EmailMessage, name: str) -> str:
    """A header's decoded text; a malformed header falls back to its raw value, never an error."""
    try:
        value = msg.get(name)
    except Exception:  # the email package can raise on badly broken headers
        raw = msg.get_all(name) or [""]
        return str(raw[0])
    if value is None:
        return ""
    return _flatten_addresses(value) if name.lower() == "from" else str(value)


def _flatten_addresses(value: Any) -> str:
    addresses: tuple[Address, ...] = getattr(value, "addresses", ())
    return ", ".join(str(a) for a in addresses) if addresses else str(value)


def message_row(msg: StoredMessage, headers: bytes) -> dict[str, Any]:
    parsed = parse_headers(headers)
    return {
        "uid": msg.uid,
        "internal_date": msg.internal_date,
        "date": _header(parsed, "Date"),
        "from": _header(parsed, "From"),
        "subject": _header(parsed, "Subject"),
        "size": msg.size,
        "flags": sorted(msg.flags),
    }


@click.group()
def mailbox() -> None:
    """Inspect users' stored mail."""


mailbox.add_command(import_cmd)
mailbox.add_command(export_cmd)


@mailbox.command(name="list")
@click.argument("email")
@folder_option
@json_option
@pass_state
def list_(state: CliState, email: str, folder: str, as_json: bool) -> None:
    """List the messages in a user's folder."""
    user = _address(email)
    with state.store() as store:
        name = _check_mailbox(store, user, folder)
        messages = store.list_messages(user, name)
    blobs = state.blobs()
    rows = [message_row(m, header_block(m.prefix + blobs.get(m.blob))) for m in messages]
    columns = [
        ("uid", "UID"),
        ("internal_date", "Received"),
        ("from", "From"),
        ("subject", "Subject"),
        ("size", "Size"),
    ]
    render(rows, columns, as_json=as_json, empty=f"{name} of {user} is empty")


@mailbox.command()
@click.argument("email")
@click.argument("uid", type=int)
@folder_option
@pass_state
def show(state: CliState, email: str, uid: int, folder: str) -> None:
    """Write message UID, exactly as stored, to standard output."""
    user = _address(email)
    with state.store() as store:
        name = _check_mailbox(store, user, folder)
        msg = store.get_message(user, name, uid)
    if msg is None:
        raise fail(f"no message with UID {uid} in {name!r} of {user}")
    out = sys.stdout.buffer
    out.write(msg.prefix)
    out.write(state.blobs().get(msg.blob))
    out.flush()


@mailbox.command()
@click.argument("email")
@json_option
@pass_state
def folders(state: CliState, email: str, as_json: bool) -> None:
    """List a user's mailboxes with their IMAP counters."""
    user = _address(email)
    with state.store() as store:
        if store.get_user(user) is None:
            raise fail(f"no user {user}")
        boxes = store.list_mailboxes(user)
    rows = [
        {
            "name": b.name,
            "messages": b.messages,
            "uidvalidity": b.uidvalidity,
            "uidnext": b.uidnext,
            "highestmodseq": b.highestmodseq,
            "subscribed": b.subscribed,
            "special_use": b.special_use,
        }
        for b in boxes
    ]
    columns = [
        ("name", "Mailbox"),
        ("messages", "Messages"),
        ("uidvalidity", "UIDVALIDITY"),
        ("uidnext", "UIDNEXT"),
        ("highestmodseq", "HIGHESTMODSEQ"),
        ("subscribed", "Subscribed"),
        ("special_use", "Special use"),
    ]
    render(rows, columns, as_json=as_json, empty=f"{user} has no mailboxes")
