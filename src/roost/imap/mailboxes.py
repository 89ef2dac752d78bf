"""IMAP mailbox commands (RFC 9051 §6.3): LIST/LSUB, CREATE, DELETE, RENAME, (UN)SUBSCRIBE,
STATUS, APPEND, and RFC 9208 GETQUOTA/GETQUOTAROOT, with the RFC 6154 special-use attributes,
RFC 5258 LIST-EXTENDED and RFC 5819 LIST-STATUS.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from roost.imap import commands as c
from roost.imap import names
from roost.imap import responses as r
from roost.imap.core import SessionCore
from roost.imap.encode import encode_string
from roost.imap.sequence import SequenceSet
from roost.message.wire import compute_structure
from roost.obs.log import log_event
from roost.store.interface import AlreadyExists, BlobStore, NotFound, Store, StoreError
from roost.store.types import BlobRef, MailboxInfo, StoredMessage

log = logging.getLogger("roost.imap")

STATUS_ITEMS = frozenset(
    ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ", "RECENT"]
)
SPECIAL_USE = frozenset(
    ["\\ALL", "\\ARCHIVE", "\\DRAFTS", "\\FLAGGED", "\\JUNK", "\\SENT", "\\TRASH"]
)


def append_one(
    store: Store,
    blobs: BlobStore,
    user: str,
    mailbox: str,
    data: bytes,
    flags: frozenset[str],
    date: dt.datetime,
) -> StoredMessage:
    """Runs on the store thread: blob (synced), structure, then the row, as the CLI import
    does (append_message's contract for body=None)."""
    ref = blobs.put(data)
    blobs.sync([ref])
    structure = compute_structure(data)
    return store.append_message(user, mailbox, ref, None, flags, date, structure=structure)


def drop_unused(store: Store, blobs: BlobStore, refs: Sequence[BlobRef]) -> None:
    """Delete blobs that an expunge left unreferenced (unless re-used meanwhile)."""
    for ref in refs:
        if not store.blob_in_use(ref):
            blobs.delete(ref)


class MailboxCommands(SessionCore):
    """Mixed into ImapSession (session.py)."""

    async def _mailboxes(self) -> list[MailboxInfo]:
        return await self.ctx.runner.run(self.ctx.store.list_mailboxes, self.user)

    def _name_or_bad(self, tag: str, wire: str) -> str | None:
        try:
            return self.store_name(wire)
        except names.BadName as exc:
            self.bad(tag, str(exc))
            return None

    # --- LIST / LSUB --------------------------------------------------------------------------
    async def cmd_list(self, cmd: c.List) -> None:
        lsub = cmd.name == "LSUB"
        if not lsub and len(cmd.patterns) == 1 and cmd.patterns[0] == "":
            # RFC 9051 §6.3.9: the delimiter and root of the reference.
            self.io.write(r.list_mailbox(["\\Noselect"], names.DELIMITER, ""))
            self.ok(cmd.tag, "LIST completed")
            return
        try:
            reference = self.store_name(cmd.reference) if cmd.reference else ""
            patterns = [
                names.canonical_pattern(reference, self.store_name(p) if p else p)
                for p in cmd.patterns
            ]
        except names.BadName as exc:
            self.bad(cmd.tag, str(exc))
            return
        boxes = {b.name: b for b in await self._mailboxes()}
        existing = set(boxes)
        implied = {p for n in existing for p in names.parent_names(n)} - existing
        has_children = {p for n in existing for p in names.parent_names(n)}
        subscribed_only = lsub or "SUBSCRIBED" in cmd.selection
        special_only = "SPECIAL-USE" in cmd.selection
        show_subscribed = "SUBSCRIBED" in cmd.returns or "SUBSCRIBED" in cmd.selection
        status_items = [i for i in cmd.status_items if i in STATUS_ITEMS]
        for name in sorted(existing | implied, key=lambda n: (n != names.INBOX, n)):
            if not any(names.matches(p, name) for p in patterns):
                continue
            box = boxes.get(name)
            if subscribed_only and (box is None or not box.subscribed):
                continue
            if special_only and (box is None or not box.special_use):
                continue
            attrs: list[str] = []
            if box is None:
                attrs.append("\\Noselect")
            if not lsub:
                attrs.append("\\HasChildren" if name in has_children else "\\HasNoChildren")
                if box is not None and box.special_use:
                    attrs.append(box.special_use)
                if show_subscribed and box is not None and box.subscribed:
                    attrs.append("\\Subscribed")
            self.io.write(r.list_mailbox(attrs, names.DELIMITER, self.wire_name(name), lsub=lsub))
            if status_items and box is not None:
                await self._write_status(name, status_items)
        self.ok(cmd.tag, f"{cmd.name} completed")

    cmd_lsub = cmd_list  # LSUB: the subscribed names (RFC 3501 §6.3.9), kept for rev1 clients

    # --- CREATE / DELETE / RENAME / SUBSCRIBE ------------------------------------------------
    async def cmd_create(self, cmd: c.MailboxCommand) -> None:
        name = self._name_or_bad(cmd.tag, cmd.mailbox)
        if name is None:
            return
        try:
            name = names.check_new_name(name)
        except names.BadName as exc:
            self.no(cmd.tag, str(exc), r.code("CANNOT"))
            return
        uses = list(cmd.special_use)
        if len(uses) > 1 or any(u.upper() not in SPECIAL_USE for u in uses):
            self.no(cmd.tag, "Unsupported special-use attribute", r.code("USEATTR"))
            return
        if name == names.INBOX:
            self.no(cmd.tag, "INBOX always exists", r.code("ALREADYEXISTS"))
            return
        existing = {b.name for b in await self._mailboxes()}
        if name in existing:
            self.no(cmd.tag, "Mailbox already exists", r.code("ALREADYEXISTS"))
            return
        store = self.ctx.store
        try:
            for parent in names.parent_names(name):  # RFC 9051 §6.3.4: superiors too
                if parent not in existing:
                    await self.ctx.runner.run(store.create_mailbox, self.user, parent)
            await self.ctx.runner.run(
                store.create_mailbox, self.user, name, uses[0] if uses else None
            )
        except AlreadyExists:
            self.no(cmd.tag, "Mailbox already exists", r.code("ALREADYEXISTS"))
            return
        except StoreError as exc:
            self.no(cmd.tag, str(exc), r.code("USEATTR" if uses else "CANNOT"))
            return
        self.notify_others()
        self.ok(cmd.tag, "CREATE completed")

    async def cmd_delete(self, cmd: c.MailboxCommand) -> None:
        name = self._name_or_bad(cmd.tag, cmd.mailbox)
        if name is None:
            return
        if name == names.INBOX:
            self.no(cmd.tag, "INBOX cannot be deleted", r.code("CANNOT"))
            return
        existing = {b.name for b in await self._mailboxes()}
        if name not in existing:
            self.no(cmd.tag, "No such mailbox", r.code("NONEXISTENT"))
            return
        if any(n.startswith(name + names.DELIMITER) for n in existing):
            # RFC 9051 §6.3.4 would keep it as \Noselect; Roost has no such mailboxes, so the
            # children go first (as Dovecot asks).
            self.no(cmd.tag, "Mailbox has children, delete them first", r.code("INUSE"))
            return
        runner, store = self.ctx.runner, self.ctx.store
        try:
            unused = await runner.run(store.delete_mailbox, self.user, name)
        except NotFound:
            self.no(cmd.tag, "No such mailbox", r.code("NONEXISTENT"))
            return
        await runner.run(drop_unused, store, self.ctx.blobs, unused)
        if self.view is not None and self.view.name == name:
            self.view = None
            self.io.write(r.untagged(r.Status.BYE, "Selected mailbox was deleted"))
            self.close_requested = True
        self.notify_others()
        self.ok(cmd.tag, "DELETE completed")

    async def cmd_rename(self, cmd: c.Rename) -> None:
        old = self._name_or_bad(cmd.tag, cmd.old)
        new = self._name_or_bad(cmd.tag, cmd.new)
        if old is None or new is None:
            return
        try:
            new = names.check_new_name(new)
        except names.BadName as exc:
            self.no(cmd.tag, str(exc), r.code("CANNOT"))
            return
        existing = {b.name for b in await self._mailboxes()}
        if old not in existing:
            self.no(cmd.tag, "No such mailbox", r.code("NONEXISTENT"))
            return
        if new in existing or new == names.INBOX:
            self.no(cmd.tag, "Target mailbox already exists", r.code("ALREADYEXISTS"))
            return
        if new.startswith(old + names.DELIMITER):
            self.no(cmd.tag, "Cannot rename a mailbox into itself", r.code("CANNOT"))
            return
        runner, store = self.ctx.runner, self.ctx.store
        try:
            for parent in names.parent_names(new):
                if parent not in existing and parent != old:
                    await runner.run(store.create_mailbox, self.user, parent)
                    existing.add(parent)
            await runner.run(store.rename_mailbox, self.user, old, new)
        except NotFound:
            self.no(cmd.tag, "No such mailbox", r.code("NONEXISTENT"))
            return
        except AlreadyExists:
            self.no(cmd.tag, "Target mailbox already exists", r.code("ALREADYEXISTS"))
            return
        self.notify_others()
        self.ok(cmd.tag, "RENAME completed")

    async def cmd_subscribe(self, cmd: c.MailboxCommand) -> None:
        await self._subscribe(cmd, True)

    async def cmd_unsubscribe(self, cmd: c.MailboxCommand) -> None:
        await self._subscribe(cmd, False)

    async def _subscribe(self, cmd: c.MailboxCommand, on: bool) -> None:
        name = self._name_or_bad(cmd.tag, cmd.mailbox)
        if name is None:
            return
        try:
            await self.ctx.runner.run(self.ctx.store.set_subscribed, self.user, name, on)
        except NotFound:
            self.no(cmd.tag, "No such mailbox", r.code("NONEXISTENT"))
            return
        self.ok(cmd.tag, f"{cmd.name} completed")

    # --- STATUS ---------------------------------------------------------------------------
    async def cmd_status(self, cmd: c.Status) -> None:
        name = self._name_or_bad(cmd.tag, cmd.mailbox)
        if name is None:
            return
        unknown = [i for i in cmd.items if i not in STATUS_ITEMS]
        if unknown:
            self.bad(cmd.tag, f"Unknown STATUS item {unknown[0]}")
            return
        if not await self._write_status(name, cmd.items):
            self.no(cmd.tag, "No such mailbox", r.code("NONEXISTENT"))
            return
        self.ok(cmd.tag, "STATUS completed")

    async def _write_status(self, name: str, items: Sequence[str]) -> bool:
        try:
            st = await self.ctx.runner.run(self.ctx.store.mailbox_status, self.user, name)
        except NotFound:
            return False
        info = st.info
        values = {
            "MESSAGES": info.messages,
            "UIDNEXT": info.uidnext,
            "UIDVALIDITY": info.uidvalidity,
            "UNSEEN": st.unseen,
            "DELETED": st.deleted,
            "SIZE": st.size,
            "HIGHESTMODSEQ": info.highestmodseq,
            "RECENT": 0,  # Roost keeps no \Recent (RFC 9051 dropped it)
        }
        self.io.write(r.status(self.wire_name(name), {i: values[i] for i in items}))
        return True

    # --- APPEND (RFC 3502 MULTIAPPEND, RFC 4315 APPENDUID, RFC 9208 OVERQUOTA) -----------------
    async def cmd_append(self, cmd: c.Append) -> None:
        name = self._name_or_bad(cmd.tag, cmd.mailbox)
        if name is None:
            return
        runner, store = self.ctx.runner, self.ctx.store
        box = await runner.run(store.get_mailbox, self.user, name)
        if box is None:
            self.no(cmd.tag, "No such mailbox", r.code("TRYCREATE"))
            return
        if any(not m.data for m in cmd.messages):
            self.no(cmd.tag, "Empty messages are not stored", r.code("CANNOT"))
            return
        if await self.over_quota(sum(len(m.data) for m in cmd.messages)):
            self.no(cmd.tag, "Quota exceeded", r.code("OVERQUOTA"))
            return
        stored: list[StoredMessage] = []
        try:
            for m in cmd.messages:
                flags = frozenset(f for f in m.flags if f.upper() != "\\RECENT")
                date = m.date or dt.datetime.now(dt.UTC).replace(microsecond=0)
                msg = await runner.run(
                    append_one, store, self.ctx.blobs, self.user, name, m.data, flags, date
                )
                stored.append(msg)
        except (NotFound, StoreError) as exc:
            # RFC 3502 §6.3.11: all or nothing; take back the ones already appended.
            if stored:
                unused = await runner.run(
                    store.expunge_messages, self.user, name, [m.uid for m in stored]
                )
                await runner.run(drop_unused, store, self.ctx.blobs, unused)
            log_event(log, "append failed", logging.WARNING, session=self.session_id,
                      user=self.user, error=repr(exc))  # fmt: skip
            self.no(cmd.tag, "Mailbox is gone", r.code("TRYCREATE"))
            return
        self.notify_others()
        self.changed = True
        code = r.code_appenduid(box.uidvalidity, SequenceSet.from_numbers(m.uid for m in stored))
        self.ok(cmd.tag, "APPEND completed", code)

    # --- QUOTA (RFC 9208): one root "" per user, the STORAGE resource in units of 1024 ----------
    async def cmd_getquotaroot(self, cmd: c.MailboxCommand) -> None:
        name = self._name_or_bad(cmd.tag, cmd.mailbox)
        if name is None:
            return
        if await self.ctx.runner.run(self.ctx.store.get_mailbox, self.user, name) is None:
            self.no(cmd.tag, "No such mailbox", r.code("NONEXISTENT"))
            return
        used, limit = await self.quota_limit()
        wire = encode_string(self.wire_name(name), astring=True)
        if limit <= 0:
            self.io.write(b"* QUOTAROOT " + wire + b"\r\n")
        else:
            self.io.write(b"* QUOTAROOT " + wire + b' ""\r\n')
            self.io.write(_quota_line(used, limit))
        self.ok(cmd.tag, "GETQUOTAROOT completed")

    async def cmd_getquota(self, cmd: c.GetQuota) -> None:
        used, limit = await self.quota_limit()
        if cmd.root != "" or limit <= 0:
            self.no(cmd.tag, "No such quota root", r.code("NONEXISTENT"))
            return
        self.io.write(_quota_line(used, limit))
        self.ok(cmd.tag, "GETQUOTA completed")


def _quota_line(used: int, limit: int) -> bytes:
    kib = -(-used // 1024)
    return b'* QUOTA "" (STORAGE %d %d)\r\n' % (kib, limit // 1024)
