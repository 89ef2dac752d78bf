"""`roost queue list|show|hold|release|delete|retry|flush`: steer the mail queue (like postqueue).

Deleting removes the rows first and the blob afterwards, and only when no other queue entry or
stored message shares it (blobs are content-addressed, so identical messages share one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from roost.cli.context import CliState, fail, pass_state
from roost.cli.output import echo_json, fmt_time, json_option, render
from roost.store.types import AttemptLog, QueueEntry, QueueRecipient


def _recipient(r: QueueRecipient) -> dict[str, Any]:
    return {
        "address": r.address,
        "status": r.status.value,
        "deliver_to": r.deliver_to,
        "last_reply": r.last_reply,
        "updated_at": r.updated_at,
    }


def entry_row(entry: QueueEntry) -> dict[str, Any]:
    """The stable JSON shape of a queue entry (without the message itself)."""
    return {
        "queue_id": entry.queue_id,
        "state": entry.state.value,
        "received_at": entry.received_at,
        "next_attempt": entry.next_attempt,
        "attempts": entry.attempts,
        "size": entry.size,
        "sender": entry.sender,
        "client_ip": entry.client_ip,
        "helo": entry.helo,
        "auth_user": entry.auth_user,
        "recipients": [_recipient(r) for r in entry.recipients],
    }


def _table_row(entry: QueueEntry) -> dict[str, Any]:
    row = entry_row(entry)
    row["sender"] = entry.sender or "<>"
    row["recipients"] = [f"{r.address} ({r.status.value})" for r in entry.recipients]
    return row


@click.group()
def queue() -> None:
    """Inspect and manage the mail queue."""


@queue.command(name="list")
@json_option
@pass_state
def list_(state: CliState, as_json: bool) -> None:
    """List queued messages with their recipients' status."""
    with state.store() as store:
        entries = sorted(store.list_queue(), key=lambda e: (e.received_at, e.queue_id))
    columns = [
        ("queue_id", "Queue ID"),
        ("state", "State"),
        ("received_at", "Arrived"),
        ("size", "Size"),
        ("sender", "Sender"),
        ("recipients", "Recipients"),
    ]
    if as_json:
        render([entry_row(e) for e in entries], columns, as_json=True, empty="")
        return
    render([_table_row(e) for e in entries], columns, as_json=False, empty="queue is empty")


def _get_entry(state: CliState, queue_id: str) -> QueueEntry:
    with state.store() as store:
        entry = store.get_queue_entry(queue_id)
    if entry is None:
        raise fail(f"no queued message {queue_id}")
    return entry


def header_block(message: bytes) -> bytes:
    """The header section: everything before the first empty line (CRLF or bare LF)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = message.find(sep)
        if end >= 0:
            return message[: end + len(sep) // 2]
    return message


def _attempt(a: AttemptLog) -> dict[str, Any]:
    return {
        "at": a.at,
        "recipients": list(a.recipients),
        "mx_host": a.mx_host,
        "ip": a.ip,
        "port": a.port,
        "tls": a.tls,
        "status": a.status.value,
        "reply": a.reply,
    }


def _echo_attempts(attempts: list[AttemptLog]) -> None:
    for a in attempts:
        relay = f"{a.mx_host}[{a.ip}]:{a.port}" if a.mx_host else "(no connection)"
        tls = a.tls or "no TLS"
        click.echo(f"Attempt:   {fmt_time(a.at)} {relay} {tls}: {a.status.value}: {a.reply}")


def _echo_entry(entry: QueueEntry, headers: str) -> None:
    click.echo(f"Queue ID:  {entry.queue_id}")
    click.echo(f"State:     {entry.state.value}")
    click.echo(f"Arrived:   {fmt_time(entry.received_at)} from {entry.client_ip} ({entry.helo})")
    click.echo(f"Next try:  {fmt_time(entry.next_attempt)} (attempts: {entry.attempts})")
    click.echo(f"Size:      {entry.size}")
    click.echo(f"Sender:    <{entry.sender}>")
    for r in entry.recipients:
        reply = f": {r.last_reply}" if r.last_reply else ""
        click.echo(f"Recipient: <{r.address}> {r.status.value}{reply}")
    click.echo("")
    click.echo(headers.rstrip("\r\n").replace("\r\n", "\n"))


@queue.command()
@click.argument("queue_id")
@json_option
@pass_state
def show(state: CliState, queue_id: str, as_json: bool) -> None:
    """Show the envelope, each recipient's status and last reply, and the message headers."""
    entry = _get_entry(state, queue_id)
    with state.store() as store:
        attempts = store.list_attempts(queue_id)
    message = entry.prefix + state.blobs().get(entry.blob)
    headers = header_block(message).decode("utf-8", "replace")
    if as_json:
        echo_json(
            {**entry_row(entry), "attempts": [_attempt(a) for a in attempts], "headers": headers}
        )
        return
    _echo_attempts(attempts)
    _echo_entry(entry, headers)


@queue.command()
@click.argument("queue_id")
@pass_state
def hold(state: CliState, queue_id: str) -> None:
    """Put a message on hold: no delivery attempts until released."""
    with state.store() as store:
        store.hold(queue_id)
    click.echo(f"held {queue_id}")


@queue.command()
@click.argument("queue_id")
@pass_state
def release(state: CliState, queue_id: str) -> None:
    """Release a held message; it is due for delivery now."""
    with state.store() as store:
        store.release(queue_id)
    click.echo(f"released {queue_id}")


@queue.command()
@click.argument("queue_id")
@pass_state
def delete(state: CliState, queue_id: str) -> None:
    """Delete a message from the queue without delivering or bouncing it."""
    with state.store() as store:
        ref = store.delete_queue_entry(queue_id)
        in_use = store.blob_in_use(ref)
    if not in_use:
        state.blobs().delete(ref)
    click.echo(f"deleted {queue_id}")


@queue.command()
@click.argument("queue_id", required=False)
@click.option("--all", "everything", is_flag=True, help="every deferred message")
@pass_state
def retry(state: CliState, queue_id: str | None, everything: bool) -> None:
    """Make a deferred message (or --all) due now; the running server picks it up."""
    if bool(queue_id) == everything:
        raise fail("give a queue ID or --all")
    _due_now(state, None if everything else queue_id)


@queue.command()
@pass_state
def flush(state: CliState) -> None:
    """Attempt delivery of every queued message now (like `postqueue -f`)."""
    _due_now(state, None)


def _due_now(state: CliState, queue_id: str | None) -> None:
    with state.store() as store:
        count = store.retry_now(queue_id, datetime.now(UTC))
    click.echo(f"{count} message(s) due now")
