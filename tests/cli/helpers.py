"""Helpers shared by the CLI tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomlkit
from click.testing import Result

from roost.config import load_config
from roost.config.model import RoostConfig
from roost.queue.ids import new_queue_id
from roost.store import open_blobs, open_store
from roost.store.interface import Store
from roost.store.types import BlobRef, NewMessage, NewRecipient

Run = Callable[..., Result]


def write_config(config: RoostConfig, path: Path) -> Path:
    path.write_text(tomlkit.dumps(config.model_dump(mode="json")), encoding="utf-8")
    return path


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def open_from(config_file: Path) -> Store:
    """The store the CLI sees, opened the same way (for arranging and checking state)."""
    return open_store(load_config(config_file))


def enqueue(
    config_file: Path,
    message: bytes,
    recipients: tuple[NewRecipient, ...],
    *,
    queue_id: str | None = None,
    hold: bool = False,
) -> str:
    """Put a message through the Store API as intake would: blob first (synced), then rows."""
    config = load_config(config_file)
    store = open_store(config)
    try:
        blobs = open_blobs(config, store)
        ref = blobs.put(message)
        blobs.sync([ref])
        qid = queue_id or new_queue_id()
        store.enqueue_batch([_new_message(qid, ref, recipients, hold=hold)])
    finally:
        store.close()
    return qid


def _new_message(
    qid: str, ref: BlobRef, recipients: tuple[NewRecipient, ...], *, hold: bool
) -> NewMessage:
    return NewMessage(
        queue_id=qid,
        sender="sender@remote.test",
        recipients=recipients,
        blob=ref,
        prefix=b"Received: from client.remote.test by mx.roost.test; Mon, 1 Jan 2024\r\n",
        received_at=datetime.now(UTC),
        client_ip="192.0.2.7",
        helo="client.remote.test",
        hold=hold,
    )
