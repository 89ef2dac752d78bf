"""Intake: structures computed for local mail and stored in the batch; on_local_delivery."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime

from roost.message.wire import compute_structure
from roost.queue.intake import Intake
from roost.queue.spool import SpooledMessage
from roost.store.aio import AsyncStore
from roost.store.blobs import TieredBlobStore
from roost.store.interface import Store
from roost.store.types import BlobRef, NewMessage, NewRecipient

ALICE = "alice@example.org"
BOB = "bob@example.org"


def spooled(text: str) -> SpooledMessage:
    data = f"From: x@remote.test\r\nSubject: {text}\r\n\r\n{text}\r\n".encode()
    return SpooledMessage(hashlib.sha256(data).hexdigest(), len(data), data, None)


def builder(queue_id: str, *recipients: NewRecipient):  # type: ignore[no-untyped-def]
    def build(blob: BlobRef) -> NewMessage:
        return NewMessage(queue_id, "x@remote.test", recipients, blob, b"", datetime.now(UTC))

    return build


def test_local_mail_gets_structure_and_wakes_listeners(
    local_store: Store, blobs: TieredBlobStore
) -> None:
    heard: list[frozenset[str]] = []
    local_mail, remote_mail, large = spooled("local"), spooled("remote"), spooled("big" * 5000)

    async def run() -> None:
        runner = AsyncStore()
        intake = Intake(local_store, blobs, runner, inline_max=4096, on_local_delivery=heard.append)
        intake.start()
        try:
            await asyncio.gather(
                intake.submit(local_mail, builder("Q1", NewRecipient(ALICE, ALICE))),
                intake.submit(large, builder("Q2", NewRecipient(BOB, BOB))),
            )
            await intake.submit(remote_mail, builder("Q3", NewRecipient("far@remote.test")))
        finally:
            await intake.stop()
            runner.close()

    asyncio.run(run())
    assert set().union(*heard) == {ALICE, BOB}  # one or two batches; the remote one is silent
    assert all(heard)
    found = local_store.get_structures([local_mail.digest, large.digest, remote_mail.digest])
    assert found == {
        local_mail.digest: compute_structure(local_mail.data or b""),
        large.digest: compute_structure(large.data or b""),
    }
    [msg] = local_store.list_messages(ALICE, "INBOX")
    assert msg.blob.digest == local_mail.digest


def test_failing_listener_does_not_stop_intake(local_store: Store, blobs: TieredBlobStore) -> None:
    def boom(_: frozenset[str]) -> None:
        raise RuntimeError("listener bug")

    async def run() -> None:
        runner = AsyncStore()
        intake = Intake(local_store, blobs, runner, inline_max=4096, on_local_delivery=boom)
        intake.start()
        try:
            await intake.submit(spooled("a"), builder("Q1", NewRecipient(ALICE, ALICE)))
            await intake.submit(spooled("b"), builder("Q2", NewRecipient(ALICE, ALICE)))
        finally:
            await intake.stop()
            runner.close()

    asyncio.run(run())
    assert [m.uid for m in local_store.list_messages(ALICE, "INBOX")] == [1, 2]
