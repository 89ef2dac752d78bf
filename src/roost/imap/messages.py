"""IMAP selected-state commands (RFC 9051 §6.3.2-3, §6.4) and the untagged updates that keep a
session's view in step with changes made elsewhere (§7.5.1, RFC 7162 CONDSTORE/QRESYNC).

FETCH, SEARCH and STORE on thousands of messages are streamed in chunks of UIDs: each chunk is
one store call (metadata only, never bodies unless an item needs them), its responses written,
and the writer drained, so neither memory nor the client's socket buffer grows with the
mailbox.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import compress
from typing import Literal

from roost.imap import commands as c
from roost.imap import responses as r
from roost.imap.core import SessionCore
from roost.imap.encode import Encodable
from roost.imap.fetch import Attribute
from roost.imap.fetching import (
    FetchPlan,
    header_chunks,
    load_bodies,
    render_fetch,
    render_header_rows,
)
from roost.imap.mailboxes import drop_unused
from roost.imap.memosearch import search_memo
from roost.imap.search import (
    And,
    FlagKey,
    KeywordKey,
    ModSeqKey,
    Not,
    Or,
    SearchKey,
    SequenceKey,
)
from roost.imap.searching import (
    Candidate,
    header_needles,
    matches,
    may_match,
    memo_fields,
    needs_message,
    only_header,
)
from roost.imap.sequence import SequenceSet
from roost.imap.states import State
from roost.imap.view import BadSequence, MailboxView
from roost.store.common import decode_flags, encode_flags
from roost.store.interface import NotFound
from roost.store.types import MailboxInfo, StoredMessage

log = logging.getLogger("roost.imap")

CHUNK = 500  # UIDs per store call when streaming
VIEW_CHUNK = 250  # lines made and sent at a time when the view answers
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


class MessageCommands(SessionCore):
    """Mixed into ImapSession (session.py)."""

    # --- SELECT / EXAMINE ---------------------------------------------------------------------
    async def cmd_select(self, cmd: c.Select) -> None:
        await self._select(cmd, readonly=False)

    async def cmd_examine(self, cmd: c.Select) -> None:
        await self._select(cmd, readonly=True)

    async def _select(self, cmd: c.Select, *, readonly: bool) -> None:
        if self.view is not None:
            self.view = None
            self.saved = None
            self.state = State.AUTHENTICATED
            self.io.write(r.untagged(r.Status.OK, "Previous mailbox closed", r.code_closed()))
        if cmd.qresync is not None and not self.options.qresync:
            self.bad(cmd.tag, "QRESYNC must be enabled first")  # RFC 7162 §3.2.5
            return
        try:
            name = self.store_name(cmd.mailbox)
        except ValueError as exc:
            self.bad(cmd.tag, str(exc))
            return
        try:
            info, view = await self._load_view(name, readonly)
        except NotFound:
            self.no(cmd.tag, "No such mailbox", r.code("NONEXISTENT"))
            return
        if cmd.condstore:
            self.options.condstore = True  # RFC 7162 §3.1.8: SELECT (CONDSTORE) enables it
        self.view = view
        self.state = State.SELECTED
        self.changed = False
        w = self.io.write
        w(r.flags(SYSTEM_FLAGS))
        permanent = () if readonly else (*SYSTEM_FLAGS, "\\*")
        w(r.untagged(r.Status.OK, "Flags permitted", r.code_permanentflags(permanent)))
        w(r.exists(view.count))
        if not self.options.rev2:
            w(b"* 0 RECENT\r\n")  # RFC 3501 §7.3.2; Roost keeps no \Recent
            seq = view.first_without("\\Seen")
            if seq is not None:
                w(r.untagged(r.Status.OK, "First unseen", r.Code("UNSEEN", (seq,))))
        w(r.untagged(r.Status.OK, "UIDs valid", r.code_uidvalidity(info.uidvalidity)))
        w(r.untagged(r.Status.OK, "Predicted next UID", r.code_uidnext(info.uidnext)))
        w(r.untagged(r.Status.OK, "Highest", r.code_highestmodseq(info.highestmodseq)))
        if cmd.qresync is not None and cmd.qresync.uidvalidity == info.uidvalidity:
            await self._qresync_select(cmd.qresync)
        code = r.code_read_only() if readonly else r.code_read_write()
        self.ok(cmd.tag, f"{cmd.name} completed", code)

    async def _load_view(self, name: str, readonly: bool) -> tuple[MailboxInfo, MailboxView]:
        """The mailbox and a view of it. The memo keeps a copy of the last view loaded for each
        mailbox; while the mailbox's UIDVALIDITY, HIGHESTMODSEQ and UIDNEXT are unchanged its
        messages and flags are too (every change raises HIGHESTMODSEQ, RFC 7162 §3.1.1), so a
        copy serves and only the mailbox row is read. NotFound when there is no such mailbox."""
        runner, store, memo = self.ctx.runner, self.ctx.store, self.ctx.memo
        box = (self.user, name, 0)
        kept = memo.get(box, "view").get(0)
        if kept is not None:
            current = await runner.run(store.get_mailbox, self.user, name)
            if current is None:
                raise NotFound(name)
            marks = (current.uidvalidity, current.highestmodseq, current.uidnext)
            if (kept.uidvalidity, kept.modseq, kept.uidnext) == marks:
                return current, kept.copy(readonly=readonly)
        info, index = await runner.run(store.mailbox_index, self.user, name)
        view = MailboxView(name, info.uidvalidity, info.uidnext, info.highestmodseq, readonly)
        view.load(index)
        memo.add(box, "view", {0: view.copy(readonly=False)}, view.octets)
        return info, view

    async def _qresync_select(self, q: c.QResync) -> None:
        """RFC 7162 §3.2.5.2: VANISHED (EARLIER) for what went, FETCH for what changed."""
        view = self.view
        assert view is not None
        runner, store = self.ctx.runner, self.ctx.store
        gone = await runner.run(store.expunged_since, self.user, view.name, q.modseq)
        if q.known_uids is not None:
            top = max(gone[-1] if gone else 0, view.max_uid(), 1)
            gone = [u for u in gone if q.known_uids.contains(u, top)]
        if gone:
            self.io.write(r.vanished(SequenceSet.from_numbers(gone), earlier=True))
        rows = await runner.run(store.messages_since, self.user, view.name, q.modseq)
        for row in rows:
            seq = view.seq_of(row.uid)
            if seq is not None:
                self.io.write(self._flags_line(seq, row, uid=True))
            await self.io.drain()

    def _flags_line(self, seq: int, row: StoredMessage, *, uid: bool) -> bytes:
        items: list[tuple[str, Encodable]] = []
        if uid or self.options.qresync:
            items.append(("UID", row.uid))
        items.append(("FLAGS", r.flag_atoms(sorted(row.flags))))
        if self.options.condstore:
            items.append(("MODSEQ", [row.modseq]))
        return r.fetch(seq, items)

    # --- untagged updates -----------------------------------------------------------------
    async def catch_up(self, *, expunges: bool) -> None:
        """Report changes made elsewhere: new messages (EXISTS), expunges (EXPUNGE, or
        VANISHED under QRESYNC) when `expunges` allows, and flag changes (FETCH)."""
        view = self.view
        if view is None or not self.changed:
            return
        runner, store = self.ctx.runner, self.ctx.store
        info = await runner.run(store.get_mailbox, self.user, view.name)
        if info is None or info.uidvalidity != view.uidvalidity:
            # RFC 9051 §7.1: the mailbox is gone (deleted, or renamed and recreated)
            self.view = None
            self.state = State.AUTHENTICATED
            self.io.write(r.untagged(r.Status.BYE, "Selected mailbox was deleted or renamed"))
            self.close_requested = True
            return
        rows: list[StoredMessage] = []
        if info.highestmodseq > view.modseq:  # new messages and flag changes both raise it
            rows = await runner.run(store.messages_since, self.user, view.name, view.modseq)
        gone: list[int] = []
        if info.uidnext != view.uidnext or info.messages != view.count:
            _, uids = await runner.run(store.mailbox_uids, self.user, view.name)
            gone = view.missing(uids)
        if gone and expunges:
            if self.options.qresync:
                view.remove(gone)
                self.io.write(r.vanished(SequenceSet.from_numbers(gone)))
            else:
                for seq in view.remove(gone):
                    self.io.write(r.expunge(seq))
        known = view.max_uid()  # messages above it are new: EXISTS announces them, no FETCH
        fresh = [(m.uid, encode_flags(m.flags), m.modseq) for m in rows if m.uid > known]
        if view.append_new(fresh):
            self.io.write(r.exists(view.count))
        for row in rows:
            if row.uid <= known and view.set_flags(row.uid, encode_flags(row.flags), row.modseq):
                pos = view.seq_of(row.uid)
                assert pos is not None
                self.io.write(self._flags_line(pos, row, uid=False))
        view.modseq = max(view.modseq, info.highestmodseq)
        view.uidnext = info.uidnext
        self.changed = bool(gone) and not expunges  # report them at the next permitted moment
        await self.io.drain()

    def own_changes(self, modseqs: Sequence[int]) -> None:
        """This session changed flags and has told its client: if its changes are the only
        ones since the view's MODSEQ (a gapless run after it), the view is current; otherwise
        someone else changed something too, and the next catch-up looks."""
        view = self.view
        if view is None or not modseqs:
            return
        ordered = sorted(modseqs)
        if ordered[0] == view.modseq + 1 and ordered[-1] - ordered[0] + 1 == len(set(ordered)):
            view.modseq = ordered[-1]
        else:
            self.changed = True

    # --- CHECK / CLOSE / UNSELECT / EXPUNGE ------------------------------------------------
    async def cmd_check(self, cmd: c.Simple) -> None:
        self.ok(cmd.tag, "CHECK completed")

    async def cmd_unselect(self, cmd: c.Simple) -> None:
        self.view = None
        self.saved = None
        self.state = State.AUTHENTICATED
        self.ok(cmd.tag, "UNSELECT completed")

    async def cmd_close(self, cmd: c.Simple) -> None:
        """RFC 9051 §6.4.1: expunge \\Deleted silently (read-write only), then deselect."""
        view = self.view
        assert view is not None
        if not view.readonly:
            await self._expunge(None, silent=True)
        self.view = None
        self.saved = None
        self.state = State.AUTHENTICATED
        self.ok(cmd.tag, "CLOSE completed")

    async def cmd_expunge(self, cmd: c.Simple | c.Expunge) -> None:
        view = self.view
        assert view is not None
        if view.readonly:
            self.no(cmd.tag, "Mailbox is read-only", r.code_read_only())
            return
        only: list[int] | None = None
        if isinstance(cmd, c.Expunge):  # UID EXPUNGE (RFC 4315 §2.1)
            only = view.uid_set_members(self._resolve_saved(cmd.uids, uid=True))
        await self._expunge(only, silent=False)
        self.ok(cmd.tag, "EXPUNGE completed")

    async def _expunge(self, only: list[int] | None, *, silent: bool) -> None:
        view = self.view
        assert view is not None
        runner, store = self.ctx.runner, self.ctx.store
        targets = only if only is not None else list(view.uids)
        deleted: list[int] = []
        for rows in await self._rows_in_chunks(targets):
            deleted.extend(m.uid for m in rows if "\\Deleted" in m.flags)
        if not deleted:
            return
        unused = await runner.run(store.expunge_messages, self.user, view.name, deleted)
        await runner.run(drop_unused, store, self.ctx.blobs, unused)
        self.notify_others()
        if silent:
            view.remove(deleted)
        elif self.options.qresync:
            view.remove(deleted)
            self.io.write(r.vanished(SequenceSet.from_numbers(deleted)))
        else:
            for seq in view.remove(deleted):
                self.io.write(r.expunge(seq))
        self.changed = True  # HIGHESTMODSEQ moved: let catch_up record it

    async def _rows_in_chunks(self, uids: Sequence[int]) -> list[list[StoredMessage]]:
        view = self.view
        assert view is not None
        out = []
        for i in range(0, len(uids), CHUNK):
            out.append(
                await self.ctx.runner.run(
                    self.ctx.store.get_messages, self.user, view.name, list(uids[i : i + CHUNK])
                )
            )
        return out

    # --- message sets ------------------------------------------------------------------------
    def _resolve_saved(self, numbers: SequenceSet, *, uid: bool) -> SequenceSet:
        """RFC 5182 `$`: the UIDs saved by the last SEARCH ... SAVE (empty if none)."""
        if not numbers.saved:
            return numbers
        view = self.view
        assert view is not None
        saved = sorted(self.saved or ())
        if uid:
            return SequenceSet.from_numbers(saved)
        return SequenceSet.from_numbers(s for s in (view.seq_of(u) for u in saved) if s)

    def _targets(
        self, tag: str, numbers: SequenceSet, *, uid: bool
    ) -> list[tuple[int, int]] | None:
        view = self.view
        assert view is not None
        numbers = self._resolve_saved(numbers, uid=uid)
        if numbers.saved or not numbers.ranges:
            return []
        try:
            return view.by_uid(numbers) if uid else view.by_sequence(numbers)
        except BadSequence as exc:
            self.bad(tag, str(exc))
            return None

    # --- FETCH ---------------------------------------------------------------------------------
    async def cmd_fetch(self, cmd: c.Fetch) -> None:
        view = self.view
        assert view is not None
        if (cmd.changed_since is not None or cmd.vanished) and not self.options.condstore:
            self.options.condstore = True  # RFC 7162 §3.1.4.1: CHANGEDSINCE enables CONDSTORE
        if cmd.vanished and not (self.options.qresync and cmd.uid and cmd.changed_since):
            self.bad(cmd.tag, "VANISHED needs QRESYNC, UID FETCH and CHANGEDSINCE")
            return
        plan = FetchPlan.build(
            cmd.items,
            uid=cmd.uid,
            condstore=self.options.condstore,
            changed_since=cmd.changed_since,
            readonly=view.readonly,
        )
        names = [item.name for item in plan.items if isinstance(item, Attribute)]
        numbers = self._resolve_saved(cmd.numbers, uid=cmd.uid)
        whole = not cmd.vanished and view.names_all(numbers, uid=cmd.uid)
        if whole and plan.from_view and names == ["UID", "FLAGS"] and plan.changed_since is None:
            await self._fetch_all_uid_flags()
            self.ok(cmd.tag, "FETCH completed")
            return
        if whole and plan.header_rows:  # the whole mailbox: the view's columns as they are
            await render_header_rows(self, plan, view, range(1, view.count + 1), view.uids, CHUNK)
            self.ok(cmd.tag, "FETCH completed")
            return
        targets = self._targets(cmd.tag, cmd.numbers, uid=cmd.uid)
        if targets is None:
            return
        if cmd.vanished and cmd.changed_since is not None:
            gone = await self.ctx.runner.run(
                self.ctx.store.expunged_since, self.user, view.name, cmd.changed_since
            )
            top = max(view.max_uid(), gone[-1] if gone else 0, 1)
            gone = [u for u in gone if cmd.numbers.contains(u, top)]
            if gone:
                self.io.write(r.vanished(SequenceSet.from_numbers(gone), earlier=True))
        if plan.from_view:
            self._fetch_view(plan, targets)
            self.ok(cmd.tag, "FETCH completed")
            return
        uids = [uid for _, uid in targets]
        if plan.header_rows:
            seqs = [seq for seq, _ in targets]
            await render_header_rows(self, plan, view, seqs, uids, CHUNK)
            self.ok(cmd.tag, "FETCH completed")
            return
        seq_of = {uid: seq for seq, uid in targets}
        for i in range(0, len(uids), CHUNK):
            chunk = uids[i : i + CHUNK]
            error = await render_fetch(self, plan, view, chunk, seq_of)
            if error is not None:
                self.no(cmd.tag, error[0], r.code(error[1]))
                return
            await self.io.drain()
        if plan.sets_seen:
            self.notify_others()
        self.ok(cmd.tag, "FETCH completed")

    async def _fetch_all_uid_flags(self) -> None:
        """`FETCH 1:* (UID FLAGS)`, the sync every client starts with: each line made by one
        %-format in C over the view's columns (no per-message Python), sent a chunk at a time
        so the client reads the first lines while later ones are made."""
        view = self.view
        assert view is not None
        encoded = {text: text.encode() for text in view.flag_texts()}
        pattern = b"* %d FETCH (UID %d FLAGS (%s))\r\n"
        uids, flags = view.uids, view.flags
        for i in range(0, view.count, VIEW_CHUNK):
            j = min(i + VIEW_CHUNK, view.count)
            texts = map(encoded.__getitem__, flags[i:j])
            columns = zip(range(i + 1, j + 1), uids[i:j], texts, strict=True)
            self.io.write(b"".join(map(pattern.__mod__, columns)))
            await self.io.drain()

    def _fetch_view(self, plan: FetchPlan, targets: list[tuple[int, int]]) -> None:
        """UID, FLAGS and MODSEQ straight from the view: no query. Each line is one %-format
        with the flag list encoded once per distinct flag text (a mailbox has few)."""
        view = self.view
        assert view is not None
        flags, modseqs = view.flags, view.modseqs
        since = plan.changed_since
        names = [item.name for item in plan.items if isinstance(item, Attribute)]
        pattern = b"* %d FETCH (" + b" ".join(_VIEW_FORMATS[n] for n in names) + b")\r\n"
        encoded: dict[str, bytes] = {}
        for text in view.flag_texts():
            encoded[text] = text.encode()
        if names == ["UID", "FLAGS"]:  # the usual client sync, spelled out
            lines = [pattern % (seq, uid, encoded[flags[seq - 1]]) for seq, uid in targets
                     if since is None or modseqs[seq - 1] > since]  # fmt: skip
        else:
            lines = []
            for seq, uid in targets:
                if since is not None and modseqs[seq - 1] <= since:
                    continue
                args: list[int | bytes] = []
                for name in names:
                    if name == "UID":
                        args.append(uid)
                    elif name == "FLAGS":
                        args.append(encoded[flags[seq - 1]])
                    else:
                        args.append(modseqs[seq - 1])
                lines.append(pattern % (seq, *args))
        for i in range(0, len(lines), 2000):
            self.io.write(b"".join(lines[i : i + 2000]))

    # --- STORE -------------------------------------------------------------------------------
    async def cmd_store(self, cmd: c.Store) -> None:
        view = self.view
        assert view is not None
        if view.readonly:
            self.no(cmd.tag, "Mailbox is read-only", r.code_read_only())
            return
        if cmd.unchanged_since is not None:
            self.options.condstore = True  # RFC 7162 §3.1.3
        targets = self._targets(cmd.tag, cmd.numbers, uid=cmd.uid)
        if targets is None:
            return
        mode = _STORE_MODES[cmd.mode]
        flags = frozenset(f for f in cmd.flags if f.upper() != "\\RECENT")
        runner, store = self.ctx.runner, self.ctx.store
        refused: list[int] = []
        ours: list[int] = []  # the MODSEQs our changes got
        uids = [uid for _, uid in targets]
        for i in range(0, len(uids), CHUNK * 4):
            chunk = uids[i : i + CHUNK * 4]
            changed, failed = await runner.run(
                store.store_flags, self.user, view.name, chunk, flags, mode,
                cmd.unchanged_since,
            )  # fmt: skip
            refused.extend(failed)
            for row in changed:
                view.set_flags(row.uid, encode_flags(row.flags), row.modseq)
                ours.append(row.modseq)
            if cmd.silent and not self.options.condstore:
                continue
            # RFC 9051 §6.4.6: the new flags of every message in the set (from the view, which
            # now holds them); with .SILENT under CONDSTORE only the MODSEQ of changed ones
            # (RFC 7162 §3.1.3).
            report = {m.uid for m in changed} if cmd.silent else set(chunk) - set(failed)
            self.io.write(self._store_lines(report, uid=cmd.uid, silent=cmd.silent))
            await self.io.drain()
        if ours:
            self.notify_others()
            self.own_changes(ours)
        if refused:
            refused_numbers = refused if cmd.uid else [view.seq_of(u) or 0 for u in refused]
            self.ok(cmd.tag, "Conditional STORE failed for some messages",
                    r.code_modified(SequenceSet.from_numbers(refused_numbers)))  # fmt: skip
            return
        self.ok(cmd.tag, "STORE completed")

    def _store_lines(self, uids: set[int], *, uid: bool, silent: bool) -> bytes:
        """Untagged FETCH lines from the view, in message-number order."""
        view = self.view
        assert view is not None
        out = bytearray()
        condstore = self.options.condstore
        for u in sorted(uids):
            seq = view.seq_of(u)
            if seq is None:
                continue
            parts = [b"UID %d" % u] if uid else []
            if not silent:
                parts.append(b"FLAGS (" + view.flags[seq - 1].encode() + b")")
            if condstore:
                parts.append(b"MODSEQ (%d)" % view.modseqs[seq - 1])
            out += b"* %d FETCH (" % seq + b" ".join(parts) + b")\r\n"
        return bytes(out)

    # --- SEARCH --------------------------------------------------------------------------
    async def cmd_search(self, cmd: c.Search) -> None:
        view = self.view
        assert view is not None
        if cmd.charset is not None and cmd.charset.upper() not in ("UTF-8", "US-ASCII"):
            self.no(cmd.tag, "Unsupported charset", r.Code("BADCHARSET", (["UTF-8", "US-ASCII"],)))
            return
        kind = _cache_kind(cmd.key)
        with_modseq = _has_modseq(cmd.key)
        if kind == "flags":
            seqs, uids, modseqs = self._search_flags(cmd, with_modseq=with_modseq)
        else:
            found = self._search_view(cmd) if kind == "view" else await self._search_store(cmd)
            seqs = [seq for seq, _, _ in found]
            uids = [uid for _, uid, _ in found]
            modseqs = [m for _, _, m in found]
        numbers = uids if cmd.uid else seqs
        modseq = max(modseqs, default=None) if with_modseq else None
        if cmd.returns is None and not self.options.rev2:
            self.io.write(r.search(numbers, modseq))
        else:
            self._esearch(cmd, numbers, uids, modseq)
        self.ok(cmd.tag, "SEARCH completed")

    def _search_flags(
        self, cmd: c.Search, *, with_modseq: bool
    ) -> tuple[list[int], list[int], list[int]]:
        """(seqs, uids, modseqs) for keys on flags and keywords only: the answer depends on the
        flag text alone, of which a mailbox has few, so each text is judged once and the view's
        columns are filtered in C (the numbers only for SEARCH, the MODSEQs only when asked
        for)."""
        view = self.view
        assert view is not None

        def judge(text: str) -> bool:
            candidate = Candidate(1, 1, decode_flags(text), 0, _EPOCH, 0)
            return matches(cmd.key, candidate, None, max_seq=1, max_uid=1, saved=None)

        texts = view.coded_texts()
        mask: Sequence[object]
        if texts is not None and view.codes is not None:
            table = bytes(judge(t) for t in texts).ljust(256, b"\x00")
            mask = view.codes.translate(table)
        else:
            verdict = {text: judge(text) for text in view.flag_texts()}
            mask = list(map(verdict.__getitem__, view.flags))
        return (
            [] if cmd.uid else list(compress(range(1, view.count + 1), mask)),
            list(compress(view.uids, mask)),
            list(compress(view.modseqs, mask)) if with_modseq else [],
        )

    def _search_view(self, cmd: c.Search) -> list[tuple[int, int, int]]:
        """Keys on flags, keywords, numbers and MODSEQ only: answered from the view."""
        view = self.view
        assert view is not None
        max_seq, max_uid = view.count, view.max_uid()
        uids, flags, modseqs = view.uids, view.flags, view.modseqs
        found = []
        for i in range(view.count):
            cand = Candidate(i + 1, uids[i], decode_flags(flags[i]), 0, _EPOCH, modseqs[i])
            if matches(cmd.key, cand, None, max_seq=max_seq, max_uid=max_uid, saved=self.saved):
                found.append((i + 1, uids[i], modseqs[i]))
        return found

    async def _search_store(self, cmd: c.Search) -> list[tuple[int, int, int]]:
        view = self.view
        assert view is not None
        if only_header(cmd.key):
            return await self._search_headers(cmd)
        need_body = needs_message(cmd.key)
        found: list[tuple[int, int, int]] = []  # (seq, uid, modseq)
        uids = list(view.uids)
        max_seq, max_uid = view.count, view.max_uid()
        runner, store = self.ctx.runner, self.ctx.store
        for i in range(0, len(uids), CHUNK):
            rows = await runner.run(store.get_messages, self.user, view.name, uids[i : i + CHUNK])
            bodies: list[bytes | None] = [None] * len(rows)
            if need_body:
                bodies = list(await runner.run(load_bodies, self.ctx.blobs, rows))
            for row, body in zip(rows, bodies, strict=True):
                seq = view.seq_of(row.uid)
                if seq is None:
                    continue
                cand = Candidate(seq, row.uid, row.flags, row.size, row.internal_date, row.modseq)
                if matches(cmd.key, cand, body, max_seq=max_seq, max_uid=max_uid,
                           saved=self.saved):  # fmt: skip
                    found.append((seq, row.uid, row.modseq))
        return found

    async def _search_headers(self, cmd: c.Search) -> list[tuple[int, int, int]]:
        """Keys that read only the top-level header: from the node's memo of field values when
        the key allows (memosearch.py), else from the stored header blocks (no dates, no
        bodies), the full evaluation only for messages whose raw octets may match."""
        names = memo_fields(cmd.key)
        if names is not None and self.ctx.memo.budget:
            return await search_memo(self, cmd.key, names, CHUNK, _EPOCH)
        view = self.view
        assert view is not None
        found: list[tuple[int, int, int]] = []
        uids = list(view.uids)
        max_seq, max_uid = view.count, view.max_uid()
        needles = header_needles(cmd.key)
        flag_sets: dict[str, frozenset[str]] = {}
        # One word every match must hold (ASCII, no whitespace: it cannot straddle a fold) lets
        # the database leave out the messages whose header lacks it.
        word = next((n.decode() for n in needles if _WHITESPACE.isdisjoint(n)), None)
        async for rows, blocks in header_chunks(self, view.name, uids, CHUNK, word):
            for row, block in zip(rows, blocks, strict=True):
                if not may_match(block, needles):
                    continue
                seq = view.seq_of(row.uid)
                if seq is None:
                    continue
                flags = flag_sets.get(row.flags)
                if flags is None:
                    flags = flag_sets[row.flags] = decode_flags(row.flags)
                cand = Candidate(seq, row.uid, flags, row.size, _EPOCH, row.modseq)
                if matches(cmd.key, cand, block, max_seq=max_seq, max_uid=max_uid,
                           saved=self.saved):  # fmt: skip
                    found.append((seq, row.uid, row.modseq))
        return found

    def _esearch(
        self, cmd: c.Search, numbers: list[int], uids: list[int], modseq: int | None
    ) -> None:
        """RFC 4731 / RFC 9051 §7.3.4; an empty RETURN () means ALL; SAVE keeps UIDs (RFC 5182)."""
        returns = set(cmd.returns or ()) or {"ALL"}
        if "SAVE" in returns:
            self.saved = frozenset(uids)
            returns.discard("SAVE")
            if not returns:
                return  # RFC 5182 §2.4: SAVE alone sends no ESEARCH
        results: list[tuple[str, Encodable]] = []
        if "MIN" in returns and numbers:
            results.append(("MIN", min(numbers)))
        if "MAX" in returns and numbers:
            results.append(("MAX", max(numbers)))
        if "ALL" in returns and numbers:
            results.append(("ALL", SequenceSet.from_numbers(numbers)))
        if "COUNT" in returns:
            results.append(("COUNT", len(numbers)))
        if modseq is not None and numbers:
            results.append(("MODSEQ", modseq))
        self.io.write(r.esearch(cmd.tag, results, uid=cmd.uid))

    # --- COPY / MOVE (RFC 4315 COPYUID, RFC 6851) ---------------------------------------------
    async def cmd_copy(self, cmd: c.Copy) -> None:
        await self._copy(cmd, move=False)

    async def cmd_move(self, cmd: c.Copy) -> None:
        await self._copy(cmd, move=True)

    async def _copy(self, cmd: c.Copy, *, move: bool) -> None:
        view = self.view
        assert view is not None
        if move and view.readonly:
            self.no(cmd.tag, "Mailbox is read-only", r.code_read_only())
            return
        try:
            target = self.store_name(cmd.mailbox)
        except ValueError as exc:
            self.bad(cmd.tag, str(exc))
            return
        targets = self._targets(cmd.tag, cmd.numbers, uid=cmd.uid)
        if targets is None:
            return
        runner, store = self.ctx.runner, self.ctx.store
        box = await runner.run(store.get_mailbox, self.user, target)
        if box is None:
            self.no(cmd.tag, "No such mailbox", r.code("TRYCREATE"))
            return
        uids = [uid for _, uid in targets]
        if not uids:
            self.ok(cmd.tag, f"{cmd.name} completed")
            return
        if not move or target != view.name:
            size = sum(m.size for rows in await self._rows_in_chunks(uids) for m in rows)
            if not move and await self.over_quota(size):
                self.no(cmd.tag, "Quota exceeded", r.code("OVERQUOTA"))
                return
        fn = store.move_messages if move else store.copy_messages
        try:
            pairs = await runner.run(fn, self.user, view.name, uids, target)
        except NotFound:
            self.no(cmd.tag, "No such mailbox", r.code("TRYCREATE"))
            return
        self.notify_others()
        self.changed = True
        code = None
        if pairs:
            code = r.code_copyuid(
                box.uidvalidity,
                SequenceSet.from_numbers(s for s, _ in pairs),
                SequenceSet.from_numbers(d for _, d in pairs),
            )
        if not move:
            self.ok(cmd.tag, "COPY completed", code)
            return
        # RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
        if code is not None:
            self.io.write(r.untagged(r.Status.OK, "Moved", code))
        moved = [s for s, _ in pairs]
        if self.options.qresync:
            view.remove(moved)
            if moved:
                self.io.write(r.vanished(SequenceSet.from_numbers(moved)))
        else:
            for seq in view.remove(moved):
                self.io.write(r.expunge(seq))
        self.ok(cmd.tag, "MOVE completed")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STORE_MODES: dict[str, Literal["set", "add", "remove"]] = {"+": "add", "-": "remove", "": "set"}
_VIEW_FORMATS = {"UID": b"UID %d", "FLAGS": b"FLAGS (%s)", "MODSEQ": b"MODSEQ (%d)"}
_WHITESPACE = frozenset(b" \t\r\n")
_FLAG_ONLY = (FlagKey, KeywordKey)
_VIEW_KEYS = (FlagKey, KeywordKey, SequenceKey, ModSeqKey)


def _cache_kind(key: SearchKey) -> str | None:
    """ "flags" when only flag and keyword keys appear, "view" when numbers or MODSEQ do too,
    None when the key needs more than the view holds (dates, sizes, text)."""

    def walk(k: SearchKey) -> set[str]:
        if isinstance(k, And):
            return set().union(*(walk(x) for x in k.keys))
        if isinstance(k, Or):
            return walk(k.left) | walk(k.right)
        if isinstance(k, Not):
            return walk(k.key)
        if isinstance(k, _FLAG_ONLY):
            return {"flags"}
        if isinstance(k, _VIEW_KEYS):
            return {"view"}
        return {"store"}

    kinds = walk(key)
    if "store" in kinds:
        return None
    return "view" if "view" in kinds else "flags"


def _has_modseq(key: object) -> bool:
    if isinstance(key, ModSeqKey):
        return True
    if isinstance(key, And):
        return any(_has_modseq(k) for k in key.keys)
    if isinstance(key, Or):
        return _has_modseq(key.left) or _has_modseq(key.right)
    if isinstance(key, Not):
        return _has_modseq(key.key)
    return False
