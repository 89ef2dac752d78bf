"""SEARCH on header fields answered from the node's memo (memo.py).

A client's SEARCH FROM, SUBJECT or HEADER reads a few fields of every message. Their decoded
values are taken once, from a header section the memo keeps for a FETCH when one holds the
fields (as a client's message list usually does), else from lean header reads (pipelined), and
kept per (mailbox, field); a later SEARCH of the same mailbox reads nothing. The memo also keeps
each field's values casefolded and joined, so the top-level AND's text keys (`required_text`)
turn most messages down with one substring test; the rest are judged by `matches` on the kept
values, flags and MODSEQ coming from the session's view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from roost.imap.fetching import header_parts, missing_from, section_holds
from roost.imap.search import And
from roost.imap.searching import Candidate, field_rows, matches, required_text
from roost.store.common import decode_flags

if TYPE_CHECKING:
    from roost.imap.core import SessionCore

Folded = str | Literal[False]
_VALUE_OCTETS = 49  # a str's object header, charged with its length per kept text


async def search_memo(
    session: SessionCore, key: And, names: frozenset[str], chunk: int, epoch: Any
) -> list[tuple[int, int, int]]:
    """(seq, uid, modseq) of the view's messages that match `key`, whose header fields are
    `names` (searching.memo_fields). A message neither kept nor in the store (expunged by
    another session) does not match."""
    view = session.view
    assert view is not None
    memo, box = session.ctx.memo, (session.user, view.name, view.uidvalidity)
    order = sorted(names)
    # Per field, each message's values casefolded and joined by NUL (False: no such field).
    # Casefolding is idempotent, so `matches` gets the same answers from these as from the
    # values themselves, and a date still parses (email.utils reads names in any case).
    kept: list[dict[int, Folded]] = [memo.get(box, ("folded", n)) for n in order]
    uids, flags, modseqs = view.uids, view.flags, view.modseqs
    spans = [range(i, min(i + chunk, len(uids))) for i in range(0, len(uids), chunk)]
    missing = [missing_from(uids[span.start : span.stop], kept) for span in spans]
    sections = [v for item, v in memo.items(box) if section_holds(item, names)]
    from_store = [[u for u in part if not any(u in s for s in sections)] for part in missing]
    slot = {n: j for j, n in enumerate(order)}
    # A needle with NUL could span two joined values; IMAP strings have none (RFC 9051 CHAR8).
    required = [(slot[n], needle) for n, needle in required_text(key) if "\x00" not in needle]
    flag_sets: dict[str, frozenset[str]] = {}
    max_seq, max_uid = view.count, view.max_uid()
    found: list[tuple[int, int, int]] = []
    number = 0
    async for rows, blocks in header_parts(session, view.name, from_store):
        read = dict(zip((row.uid for row in rows), blocks, strict=True))
        for uid in missing[number]:
            if uid not in read:
                read.update((uid, s[uid]) for s in sections if uid in s)
        fresh: list[dict[int, Folded]] = [{} for _ in order]
        for uid, values in zip(read, field_rows(read.values(), order), strict=True):
            for j, value in enumerate(values):
                fresh[j][uid] = "\x00".join(value).casefold() if value else False
        for j, n in enumerate(order):
            octets = sum(_VALUE_OCTETS + len(f) for f in fresh[j].values() if f)
            memo.add(box, ("folded", n), fresh[j], octets)
        span, number = spans[number], number + 1
        picked = list(span)
        for j, needle in required:
            have, new = kept[j], fresh[j]
            picked = [i for i in picked if needle in (have.get(uids[i]) or new.get(uids[i]) or "")]
        for i in picked:
            uid = uids[i]
            got = [_get(kept[j], fresh[j], uid) for j in range(len(order))]
            if None in got:
                continue  # gone from the store and never kept
            text = flags[i]
            flag_set = flag_sets.get(text)
            if flag_set is None:
                flag_set = flag_sets[text] = decode_flags(text)
            cand = Candidate(i + 1, uid, flag_set, 0, epoch, modseqs[i])
            fields = {n: v.split("\x00") for n, v in zip(order, got, strict=True) if v is not False}
            if matches(key, cand, None, max_seq=max_seq, max_uid=max_uid, saved=session.saved,
                       fields=fields):  # fmt: skip
                found.append((i + 1, uid, modseqs[i]))
    return found


def _get(kept: dict[int, Any], fresh: dict[int, Any], uid: int) -> Any:
    value = kept.get(uid)
    return fresh.get(uid) if value is None else value
