"""FETCH execution (RFC 9051 §6.4.5, §7.5.2; RFC 3516 BINARY; RFC 7162 MODSEQ).

`FetchPlan` decides once per command what each chunk needs: metadata rows always, the stored
ENVELOPE/BODYSTRUCTURE (parsed at delivery, keyed by blob digest) only for those items, and
message bytes only for sections. `render_fetch` does one chunk: a store call for the rows, one
for structures, one for the bytes (bounded by MAX_CHUNK_OCTETS), then the response lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Sequence
from dataclasses import dataclass, replace
from itertools import filterfalse
from typing import TYPE_CHECKING, Any

from roost.imap import render
from roost.imap import responses as r
from roost.imap.encode import encode_value, literal
from roost.imap.fetch import Attribute, BinarySize, FetchItem, Section
from roost.imap.render import header_end
from roost.imap.view import MailboxView
from roost.message.wire import compute_structure, header_block
from roost.store.common import encode_flags
from roost.store.interface import BlobStore, Store
from roost.store.types import HeaderRow, MessageStructure, StoredMessage

if TYPE_CHECKING:
    from roost.imap.core import SessionCore

MAX_CHUNK_OCTETS = 8 * 1024 * 1024  # message bytes loaded at once for BODY[] items
VIEW_ITEMS = frozenset(["UID", "FLAGS", "MODSEQ"])
BODY_ATTRIBUTES = frozenset(["RFC822", "RFC822.HEADER", "RFC822.TEXT"])
STRUCTURE_ATTRIBUTES = frozenset(["ENVELOPE", "BODYSTRUCTURE", "BODY"])
HEADER_ROW_ATTRIBUTES = frozenset(["UID", "FLAGS", "MODSEQ", "RFC822.SIZE", "RFC822.HEADER"])
_HEADER = Section(specifier="HEADER", peek=True)
_TEXT = Section(specifier="TEXT", peek=True)


@dataclass(frozen=True, slots=True)
class FetchPlan:
    items: tuple[FetchItem, ...]
    needs_body: bool
    needs_structure: bool
    sets_seen: bool
    changed_since: int | None
    from_view: bool  # only UID, FLAGS, MODSEQ: the session's view answers, no query
    header_only: bool  # the items need only the top-level header: read heads, not bodies
    header_rows: bool  # ... and nothing a HeaderRow lacks: served from stored header blocks

    @classmethod
    def build(
        cls,
        items: Sequence[FetchItem],
        *,
        uid: bool,
        condstore: bool,
        changed_since: int | None,
        readonly: bool,
    ) -> FetchPlan:
        out = list(items)
        names = {i.name for i in out if isinstance(i, Attribute)}
        if uid and "UID" not in names:
            out.insert(0, Attribute("UID"))  # RFC 9051 §6.4.9: UID FETCH always sends UID
        if changed_since is not None and "MODSEQ" not in names:
            out.append(Attribute("MODSEQ"))  # RFC 7162 §3.1.4.1
        needs_body = any(
            isinstance(i, Section | BinarySize)
            or (isinstance(i, Attribute) and i.name in BODY_ATTRIBUTES)
            for i in out
        )
        needs_structure = bool(names & STRUCTURE_ATTRIBUTES)
        # RFC 9051 §6.4.5: BODY[...] (not PEEK), BINARY[...] and RFC822(.TEXT) set \Seen.
        sets_seen = not readonly and any(
            (isinstance(i, Section) and not i.peek)
            or (isinstance(i, Attribute) and i.name in ("RFC822", "RFC822.TEXT"))
            for i in out
        )
        from_view = all(isinstance(i, Attribute) and i.name in VIEW_ITEMS for i in out)
        header_only = needs_body and all(
            (isinstance(i, Attribute) and i.name not in BODY_ATTRIBUTES - {"RFC822.HEADER"})
            or (
                isinstance(i, Section)
                and not i.part
                and not i.binary
                and (i.specifier or "").startswith("HEADER")
            )
            for i in out
        )
        header_rows = (
            header_only
            and not sets_seen
            and all(
                (isinstance(i, Attribute) and i.name in HEADER_ROW_ATTRIBUTES)
                or (isinstance(i, Section) and not i.part)
                for i in out
            )
        )
        return cls(
            tuple(out), needs_body, needs_structure, sets_seen, changed_since, from_view,
            header_only, header_rows,
        )  # fmt: skip


HEAD_OCTETS = 4096  # read first when only the header is needed; most headers fit


def load_bodies(blobs: BlobStore, rows: Sequence[StoredMessage]) -> list[bytes]:
    """Runs on the store thread (inline blobs live in the database): one query per chunk."""
    found = blobs.get_many([m.blob for m in rows])
    return [m.prefix + found[m.blob.digest] for m in rows]


def load_headers(blobs: BlobStore, rows: Sequence[StoredMessage]) -> list[bytes]:
    """Runs on the store thread: each message's prefix and top-level header (and maybe some
    body). The first HEAD_OCTETS of each body in one query; a message whose header is longer
    is read whole. Callers must use only the header of what they get."""
    heads = blobs.get_heads([m.blob for m in rows], HEAD_OCTETS)
    short = [
        m.blob
        for m in rows
        if len(heads[m.blob.digest]) < m.blob.size
        and header_end(heads[m.blob.digest]) >= len(heads[m.blob.digest])
    ]
    if short:
        heads.update(blobs.get_many(short))
    return [m.prefix + heads[m.blob.digest] for m in rows]


def structures_for(
    store: Store, blobs: BlobStore, rows: Sequence[StoredMessage]
) -> dict[str, MessageStructure]:
    """Runs on the store thread: stored structures, computing (and keeping) any missing one
    (a message stored before structures were kept)."""
    digests = sorted({m.blob.digest for m in rows})
    found = store.get_structures(digests)
    missing = [m for m in rows if m.blob.digest not in found]
    new: dict[str, MessageStructure] = {}
    for m in missing:
        if m.blob.digest not in new:
            new[m.blob.digest] = compute_structure(blobs.get(m.blob))
    if new:
        store.put_structures(list(new.items()))
        found.update(new)
    return found


def load_header_rows(store: Store, blobs: BlobStore, rows: Sequence[HeaderRow]) -> list[bytes]:
    """Runs on the store thread: prefix + header block of each row. A header not stored (a
    structure row from before schema 8: it is filled in now) or too long to store is read from
    the body; callers must use only the header of what they get."""
    heads: dict[str, bytes] = {}
    unknown = [m.blob for m in rows if not m.header]
    if unknown:
        bodies = blobs.get_many(unknown)
        heads = {ref.digest: bodies[ref.digest] for ref in unknown}
        fill = {m.digest: header_block(heads[m.digest]) for m in rows if m.header is None}
        store.put_headers(sorted((d, h) for d, h in fill.items() if h))
    return [m.prefix + (m.header or heads[m.digest]) for m in rows]


def read_header_chunk(
    store: Store,
    blobs: BlobStore,
    user: str,
    mailbox: str,
    uids: Sequence[int],
    word: str | None = None,
) -> tuple[list[HeaderRow], list[bytes]]:
    """Runs on the store thread: the header rows of `uids` and each one's prefix + header.
    With a `word` (ASCII, no whitespace) the messages whose header cannot contain it in any
    case are left out: their kept header lacks it (the database says) and so does their
    prefix (a plain ASCII block ending in a line end, so the word cannot straddle the two)."""
    rows = store.header_rows(user, mailbox, uids, word)
    if word:
        octets = word.lower().encode("ascii")
        rows = [m for m in rows if not m.lacks_word or not _lacks(m.prefix, octets)]
    if all(m.header for m in rows):
        return rows, [m.prefix + m.header for m in rows if m.header]
    return rows, load_header_rows(store, blobs, rows)


def _lacks(prefix: bytes, word: bytes) -> bool:
    return (
        (not prefix or prefix.endswith(b"\n"))
        and prefix.isascii()
        and b"=?" not in prefix
        and word not in prefix.lower()
    )


async def header_parts(
    session: SessionCore, mailbox: str, parts: Sequence[Sequence[int]], word: str | None = None
) -> AsyncIterator[tuple[list[HeaderRow], list[bytes]]]:
    """`read_header_chunk` for each part of UIDs (nothing read for an empty part), the next
    part read on the store thread while the caller works on this one (the read is about half
    the time of a header FETCH whose values are not in the memo)."""
    ctx = session.ctx

    def start(i: int) -> asyncio.Future[tuple[list[HeaderRow], list[bytes]]] | None:
        if i >= len(parts) or not parts[i]:
            return None
        part, user = list(parts[i]), session.user
        return asyncio.ensure_future(
            ctx.runner.run(read_header_chunk, ctx.store, ctx.blobs, user, mailbox, part, word)
        )

    pending = start(0)
    try:
        for i in range(len(parts)):
            current, pending = pending, None
            result: tuple[list[HeaderRow], list[bytes]] = ([], [])
            if current is not None:
                result = await current
            pending = start(i + 1)
            yield result
    finally:
        if pending is not None:
            pending.cancel()


async def header_chunks(
    session: SessionCore, mailbox: str, uids: Sequence[int], size: int, word: str | None = None
) -> AsyncIterator[tuple[list[HeaderRow], list[bytes]]]:
    """`header_parts` of `uids` cut into parts of `size`."""
    parts = [uids[i : i + size] for i in range(0, len(uids), size)]
    async for result in header_parts(session, mailbox, parts, word):
        yield result


_UID, _FLAGS, _MODSEQ, _SIZE, _SECTION = range(5)


@dataclass(frozen=True, slots=True)
class _Step:
    """One item of a header_rows plan: its %-format in the response line, where its value comes
    from, and for a section or RFC822.SIZE its memo key (and the section's reader)."""

    fmt: bytes
    source: int
    key: tuple[object, ...] | None = None
    read: render.HeaderReader | None = None


def _header_step(item: FetchItem) -> _Step:
    """The same bytes as _render gives for the item."""
    if isinstance(item, Attribute):
        if item.name == "UID":
            return _Step(b"UID %d", _UID)
        if item.name == "FLAGS":
            return _Step(b"FLAGS (%s)", _FLAGS)  # the stored text is the sorted atom list
        if item.name == "MODSEQ":
            return _Step(b"MODSEQ (%d)", _MODSEQ)
        if item.name == "RFC822.SIZE":
            return _Step(b"RFC822.SIZE %d", _SIZE, ("RFC822.SIZE",))
        assert item.name == "RFC822.HEADER"
        return _Step(b"RFC822.HEADER {%d}\r\n%s", _SECTION, ("HEADER", (), None),
                     render.header_reader(_HEADER))  # fmt: skip
    assert isinstance(item, Section)
    origin = item.partial[0] if item.partial else None
    label = render.section_label(item, origin=origin).encode("ascii").replace(b"%", b"%%")
    key = (item.specifier, tuple(sorted(set(item.fields))), item.partial)
    return _Step(label + b" {%d}\r\n%s", _SECTION, key, render.header_reader(item))


def section_holds(key: Hashable, names: frozenset[str]) -> bool:
    """Whether a memo item of a header section (the keys `_header_step` makes) keeps, whole,
    every field named in `names` (lower-case): a full HEADER, or HEADER.FIELDS listing them all,
    without a partial. Its octets then give those fields' values as the message would."""
    if not isinstance(key, tuple) or len(key) != 3 or key[2] is not None:
        return False
    spec, fields = key[0], key[1]
    return spec == "HEADER" or (
        spec == "HEADER.FIELDS" and {n.upper() for n in names} <= set(fields)
    )


async def render_header_rows(
    session: SessionCore,
    plan: FetchPlan,
    view: MailboxView,
    seqs: Sequence[int],
    uids: Sequence[int],
    size: int,
) -> None:
    """A FETCH that `plan.header_rows` allows, of the messages numbered `seqs` (UIDs `uids`,
    in the same order). UID, FLAGS and MODSEQ come from the view; a section's octets and
    RFC822.SIZE from the node's memo (memo.py) when it has them, else from lean queries (no
    dates, no bodies unless a header is not stored), and are then kept there. A message the
    store no longer has (expunged by another session) and the memo never had is left out. One
    write per chunk of `size` messages."""
    steps = [_header_step(item) for item in plan.items]
    memo = session.ctx.memo
    box = (session.user, view.name, view.uidvalidity)
    kept_steps = [st for st in steps if st.key is not None]
    kept: list[dict[int, Any]] = [memo.get(box, st.key) for st in kept_steps]
    starts = range(0, len(uids), size)
    missing = [missing_from(uids[i : i + size], kept) for i in starts]
    pattern = b"* %d FETCH (" + b" ".join(st.fmt for st in steps) + b")\r\n"
    flag_text = {text: text.encode() for text in view.flag_texts()}
    flags, modseqs, since = view.flags, view.modseqs, plan.changed_since
    sources = [st.source for st in steps]
    single = since is None and sources == [_SECTION]
    number = 0
    async for rows, blocks in header_parts(session, view.name, missing):
        fresh: list[dict[int, Any]] = []
        for st in kept_steps:
            assert st.key is not None
            if st.read is None:  # RFC822.SIZE
                sizes = {row.uid: row.size for row in rows}
                memo.add(box, st.key, sizes, 0)
                fresh.append(sizes)
            else:
                read = st.read
                datas = {row.uid: read(block) for row, block in zip(rows, blocks, strict=True)}
                memo.add(box, st.key, datas, sum(map(len, datas.values())))
                fresh.append(datas)
        start = starts[number]
        chunk_seqs, chunk_uids = seqs[start : start + size], uids[start : start + size]
        out: list[bytes] = []
        if single and not missing[number]:
            # The usual message-list FETCH, all kept: the lines are made in C.
            kept_datas: list[bytes] = list(map(kept[0].__getitem__, chunk_uids))
            columns = zip(chunk_seqs, map(len, kept_datas), kept_datas, strict=True)
            out = list(map(pattern.__mod__, columns))
        elif single:
            have, new = kept[0], fresh[0]
            for seq, uid in zip(chunk_seqs, chunk_uids, strict=True):
                data = have.get(uid)
                if data is None:
                    data = new.get(uid)
                    if data is None:
                        continue
                out.append(pattern % (seq, len(data), data))
        else:
            for seq, uid in zip(chunk_seqs, chunk_uids, strict=True):
                if since is not None and modseqs[seq - 1] <= since:
                    continue
                line = _header_line(pattern, sources, seq, uid, flag_text[flags[seq - 1]],
                                    modseqs[seq - 1], kept, fresh)  # fmt: skip
                if line is not None:
                    out.append(line)
        number += 1
        session.io.write(b"".join(out))
        await session.io.drain()


def missing_from(uids: Sequence[int], kept: list[dict[int, Any]]) -> list[int]:
    """The UIDs (ascending) some of the `kept` dicts lack, found in C."""
    if len(kept) == 1:
        return list(filterfalse(kept[0].__contains__, uids))
    lacking: set[int] = set()
    for values in kept:
        lacking.update(filterfalse(values.__contains__, uids))
    return sorted(lacking)


def _header_line(
    pattern: bytes,
    sources: list[int],
    seq: int,
    uid: int,
    flags: bytes,
    modseq: int,
    kept: list[dict[int, Any]],
    fresh: list[dict[int, Any]],
) -> bytes | None:
    """One response line of render_header_rows; None when a value is missing."""
    args: list[object] = [seq]
    n = 0
    for source in sources:
        if source == _UID:
            args.append(uid)
        elif source == _FLAGS:
            args.append(flags)
        elif source == _MODSEQ:
            args.append(modseq)
        else:
            value = kept[n].get(uid)
            if value is None:
                value = fresh[n].get(uid)
                if value is None:
                    return None
            n += 1
            if source == _SIZE:
                args.append(value)
            else:
                args += (len(value), value)
    return pattern % tuple(args)


async def render_fetch(
    session: SessionCore,
    plan: FetchPlan,
    view: MailboxView,
    uids: Sequence[int],
    seq_of: dict[int, int],
) -> tuple[str, str] | None:
    """Write the FETCH responses of one chunk; (text, code) for a NO that ends the command."""
    ctx = session.ctx
    runner, store = ctx.runner, ctx.store
    rows = await runner.run(store.get_messages, session.user, view.name, list(uids))
    if plan.changed_since is not None:
        rows = [m for m in rows if m.modseq > plan.changed_since]
    forced_flags: set[int] = set()
    if plan.sets_seen:
        unseen = [m.uid for m in rows if "\\Seen" not in m.flags]
        if unseen:
            changed, _ = await runner.run(
                store.store_flags, session.user, view.name, unseen, frozenset(["\\Seen"]), "add"
            )
            updated = {m.uid: m for m in changed}
            rows = [
                replace(m, flags=u.flags, modseq=u.modseq) if (u := updated.get(m.uid)) else m
                for m in rows
            ]
            for m in changed:
                view.set_flags(m.uid, encode_flags(m.flags), m.modseq)
                forced_flags.add(m.uid)
            session.own_changes([m.modseq for m in changed])
    structures: dict[str, MessageStructure] = {}
    if plan.needs_structure:
        structures = await runner.run(structures_for, store, ctx.blobs, rows)
    out = bytearray()
    start = 0
    while start < len(rows):
        end, octets = start, 0
        while end < len(rows) and (end == start or octets + rows[end].size <= MAX_CHUNK_OCTETS):
            octets += rows[end].size
            end += 1
        part = rows[start:end]
        bodies: list[bytes | None] = [None] * len(part)
        if plan.needs_body:
            load = load_headers if plan.header_only else load_bodies
            bodies = list(await runner.run(load, ctx.blobs, part))
        for row, body in zip(part, bodies, strict=True):
            seq = seq_of.get(row.uid)
            if seq is None:
                continue
            try:
                line = _render(session, plan, row, body, structures, row.uid in forced_flags)
            except render.UnknownCte:
                return ("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE")
            out += b"* %d FETCH (" % seq + line + b")\r\n"
        session.io.write(bytes(out))
        out.clear()
        await session.io.drain()
        start = end
    return None


def _render(
    session: SessionCore,
    plan: FetchPlan,
    row: StoredMessage,
    body: bytes | None,
    structures: dict[str, MessageStructure],
    forced_flags: bool,
) -> bytes:
    parts: list[bytes] = []
    has_flags = False
    for item in plan.items:
        if isinstance(item, Attribute):
            name = item.name
            if name == "FLAGS":
                has_flags = True
            parts.append(_attribute(session, name, row, body, structures))
        elif isinstance(item, Section):
            assert body is not None
            data = render.section_data(body, item)
            origin = item.partial[0] if item.partial else None
            label = render.section_label(item, origin=origin).encode("ascii")
            if data is None:
                parts.append(label + b" NIL")
            elif item.binary and b"\x00" in data:
                parts.append(label + b" ~{%d}\r\n" % len(data) + data)  # RFC 3516 §4.2
            else:
                parts.append(label + b" " + literal(data))
        else:
            assert body is not None
            size = render.binary_size(body, item.part)
            size_label = "BINARY.SIZE[" + ".".join(str(p) for p in item.part) + "]"
            parts.append(size_label.encode("ascii") + b" %d" % size)
    if forced_flags and not has_flags:
        parts.append(b"FLAGS " + encode_value(r.flag_atoms(sorted(row.flags))))
    return b" ".join(parts)


def _attribute(
    session: SessionCore,
    name: str,
    row: StoredMessage,
    body: bytes | None,
    structures: dict[str, MessageStructure],
) -> bytes:
    if name == "UID":
        return b"UID %d" % row.uid
    if name == "FLAGS":
        return b"FLAGS " + encode_value(r.flag_atoms(sorted(row.flags)))
    if name == "INTERNALDATE":
        return b'INTERNALDATE "' + r.date_time(row.internal_date).encode("ascii") + b'"'
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % row.size
    if name == "MODSEQ":
        return b"MODSEQ (%d)" % row.modseq
    if name in STRUCTURE_ATTRIBUTES:
        st = structures[row.blob.digest]
        data = {"ENVELOPE": st.envelope, "BODYSTRUCTURE": st.bodystructure, "BODY": st.body}
        return name.encode("ascii") + b" " + data[name]
    if name in BODY_ATTRIBUTES:
        assert body is not None
        if name == "RFC822":
            data_bytes: bytes | None = body
        else:
            data_bytes = render.section_data(body, _HEADER if name == "RFC822.HEADER" else _TEXT)
        return name.encode("ascii") + b" " + literal(data_bytes or b"")
    return name.encode("ascii") + b" NIL"  # SAVEDATE, EMAILID, THREADID: not kept
