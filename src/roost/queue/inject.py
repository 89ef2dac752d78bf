"""Mail Roost writes itself (DSNs, TLS reports) enters the queue through intake like any other.

Recipients are resolved against the directory exactly as at RCPT time, so a bounce to a local
sender lands in their INBOX in the same transaction and one to a remote sender is queued.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

from roost.queue.ids import new_queue_id
from roost.queue.intake import Intake
from roost.queue.spool import SpooledMessage
from roost.smtp.recipients import is_local_domain, resolve
from roost.store.types import BlobRef, Directory, NewMessage, NewRecipient


def local_recipients(directory: Directory, sender: str, address: str) -> list[NewRecipient]:
    """Where `address` goes; an unknown local address gets nothing (the caller logs it)."""
    if not is_local_domain(directory, address):
        return [NewRecipient(address)]
    targets = resolve(directory, address) or []
    prefix = f"Return-Path: <{sender}>\r\n".encode()
    return [
        NewRecipient(t.address, t.local_user, prefix + f"Delivered-To: {t.address}\r\n".encode()
                     if t.local_user else b"", f"rfc822;{address}")
        for t in targets
    ]  # fmt: skip


async def inject(
    intake: Intake,
    directory: Callable[[], Directory],
    *,
    sender: str,
    recipients: list[str],
    data: bytes,
    hostname: str,
) -> str | None:
    """Queue a message generated here; returns its queue id, or None if nobody can receive it."""
    rcpts = [r for a in recipients for r in local_recipients(directory(), sender, a.lower())]
    if not rcpts:
        return None
    queue_id = new_queue_id()
    now = datetime.now(UTC)
    prefix = f"Received: by {hostname} (Roost) id {queue_id}; {format_datetime(now)}\r\n".encode()
    content = SpooledMessage(hashlib.sha256(data).hexdigest(), len(data), data, None)

    def build(blob: BlobRef) -> NewMessage:
        return NewMessage(queue_id=queue_id, sender=sender, recipients=tuple(rcpts), blob=blob,
                          prefix=prefix, received_at=now, helo=hostname)  # fmt: skip

    await intake.submit(content, build)
    return queue_id
