"""Mailbox and message changes for the IMAP server, each one transaction.

Every change takes the mailbox row first (`FOR UPDATE` on PostgreSQL, the writer lock on SQLite)
and then allocates UIDs from UIDNEXT and MODSEQs from HIGHESTMODSEQ in memory, writing the row
back once: UIDs are never reused and every change gets a MODSEQ higher than any before it in
that mailbox (RFC 7162 §3.1.1). Expunges leave tombstones for QRESYNC VANISHED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from roost.store._base import Row, Tx, insert_values, uid_runs
from roost.store._blobrows import blob_row, insert_blobs
from roost.store._mailstore import _MESSAGE_SELECT, MailMixin, _referenced, expunge_rows
from roost.store._structures import insert_structures
from roost.store.common import (
    HIERARCHY_DELIMITER,
    INBOX,
    apply_flags,
    canonical_mailbox,
    decode_flags,
    encode_flags,
    normalize_email,
    normalize_flags,
    normalize_special_use,
)
from roost.store.interface import AlreadyExists, NotFound, StoreError
from roost.store.types import BlobRef, FlagChange, MailboxInfo, MessageStructure, StoredMessage

_INSERT_MESSAGES = (
    "INSERT INTO messages (mailbox_id, uid, blob_digest, blob_size, prefix, size,"
    " internal_date, flags, modseq)"
)
_CHUNK = 200


@dataclass(slots=True)
class _Box:
    """A locked mailbox row; counters advance in memory and are written back by `_save`."""

    id: int
    name: str
    uidnext: int
    highestmodseq: int

    def next_modseq(self) -> int:
        self.highestmodseq += 1
        return self.highestmodseq


def _save(tx: Tx, box: _Box) -> None:
    tx.execute(
        "UPDATE mailboxes SET uidnext = ?, highestmodseq = ? WHERE id = ?",
        (box.uidnext, box.highestmodseq, box.id),
    )


def _rows_by_uid(tx: Tx, box_id: int, uids: Sequence[int]) -> list[Row]:
    """The message rows (columns of _MESSAGE_SELECT) with these UIDs, in UID order."""
    wanted = sorted({int(uid) for uid in uids})
    rows: list[Row] = []
    for start in range(0, len(wanted), _CHUNK):
        part = wanted[start : start + _CHUNK]
        marks = ", ".join("?" * len(part))
        rows += tx.all(_MESSAGE_SELECT + f" AND uid IN ({marks}) ORDER BY uid", (box_id, *part))
    return rows


def _flag_rows(tx: Tx, box_id: int, uids: Sequence[int]) -> list[tuple[int, str, int]]:
    """(uid, flags, modseq) of the messages with these UIDs, in UID order: runs of consecutive
    UIDs (the usual 1:*) as ranges, the rest in IN lists."""
    wanted = sorted({int(uid) for uid in uids})
    select = "SELECT uid, flags, modseq FROM messages WHERE mailbox_id = ?"
    rows: list[tuple[int, str, int]] = []
    singles: list[int] = []
    for first, last in uid_runs(wanted):
        if last - first >= 8:
            rows += tx.all(select + " AND uid BETWEEN ? AND ? ORDER BY uid", (box_id, first, last))
        else:
            singles.extend(range(first, last + 1))
    for start in range(0, len(singles), _CHUNK):
        part = singles[start : start + _CHUNK]
        marks = ", ".join("?" * len(part))
        rows += tx.all(select + f" AND uid IN ({marks}) ORDER BY uid", (box_id, *part))
    rows.sort()
    return rows


def _check_name(name: str) -> str:
    canonical = canonical_mailbox(name)
    if not canonical or canonical != canonical.strip() or any(ord(c) < 32 for c in canonical):
        raise StoreError(f"{name!r} is not a mailbox name")
    if HIERARCHY_DELIMITER * 2 in canonical or canonical.startswith(HIERARCHY_DELIMITER):
        raise StoreError(f"{name!r} is not a mailbox name")
    return canonical


class ImapOpsMixin(MailMixin):
    # --- helpers -----------------------------------------------------------------------------
    def _lock_box(self, tx: Tx, user: str, name: str) -> _Box:
        row = tx.one(
            "SELECT id, name, uidnext, highestmodseq FROM mailboxes"
            " WHERE user_email = ? AND name = ?" + self.for_update,
            (user, name),
        )
        if row is None:
            raise NotFound(f"mailbox {name!r} of user {user} does not exist")
        return _Box(int(row[0]), str(row[1]), int(row[2]), int(row[3]))

    def _insert_mailbox(
        self, tx: Tx, user: str, name: str, special_use: str | None, uidnext: int, modseq: int
    ) -> tuple[int, int]:
        """(id, uidvalidity) of a new mailbox row."""
        uidvalidity = self._reserve_uidvalidity(tx)
        tx.execute(
            "INSERT INTO mailboxes (user_email, name, uidvalidity, uidnext, highestmodseq,"
            " subscribed, special_use) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (user, name, uidvalidity, uidnext, modseq, True, special_use or ""),
        )
        row = tx.one("SELECT id FROM mailboxes WHERE user_email = ? AND name = ?", (user, name))
        assert row is not None
        return int(row[0]), uidvalidity

    def _copy_rows(
        self, tx: Tx, source: _Box, uids: Sequence[int], target: _Box
    ) -> list[tuple[int, int]]:
        """Copy messages (flags, INTERNALDATE, prefix, blob) to `target` with new UIDs and
        MODSEQs; returns (source uid, target uid) in source UID order."""
        mapping: list[tuple[int, int]] = []
        inserts: list[tuple[object, ...]] = []
        for r in _rows_by_uid(tx, source.id, uids):
            uid = target.uidnext
            target.uidnext += 1
            inserts.append(
                (target.id, uid, r[1], r[2], self._bytes_out(r[3]), r[4], r[5], r[6],
                 target.next_modseq())
            )  # fmt: skip
            mapping.append((int(r[0]), uid))
        if inserts:
            insert_values(tx, _INSERT_MESSAGES, inserts)
        return mapping

    # --- mailboxes -------------------------------------------------------------------------
    def create_mailbox(self, user: str, name: str, special_use: str | None = None) -> MailboxInfo:
        address, box = normalize_email(user), _check_name(name)
        use = normalize_special_use(special_use)
        with self._write() as tx:
            if tx.one("SELECT 1 FROM users WHERE email = ?", (address,)) is None:
                raise NotFound(f"user {address} does not exist")
            if box == INBOX or tx.one(
                "SELECT 1 FROM mailboxes WHERE user_email = ? AND name = ?", (address, box)
            ):
                raise AlreadyExists(f"mailbox {box!r} of user {address} already exists")
            _, uidvalidity = self._insert_mailbox(tx, address, box, use, 1, 1)
        return MailboxInfo(address, box, uidvalidity, 1, 1, 0, True, use)

    def delete_mailbox(self, user: str, name: str) -> list[BlobRef]:
        """Refs of the blobs its messages held that nothing references any more."""
        address, box = normalize_email(user), canonical_mailbox(name)
        if box == INBOX:
            raise StoreError("INBOX cannot be deleted (RFC 9051 §6.3.4)")
        with self._write() as tx:
            locked = self._lock_box(tx, address, box)
            refs = {
                str(d): BlobRef(str(d), int(s))
                for d, s in tx.all(
                    "SELECT blob_digest, blob_size FROM messages WHERE mailbox_id = ?",
                    (locked.id,),
                )
            }
            self._reserve_uidvalidity(tx)  # the name is free again: a new mailbox gets a new one
            tx.execute("DELETE FROM messages WHERE mailbox_id = ?", (locked.id,))
            tx.execute("DELETE FROM expunged WHERE mailbox_id = ?", (locked.id,))
            tx.execute("DELETE FROM mailboxes WHERE id = ?", (locked.id,))
            return [ref for ref in refs.values() if not _referenced(tx, ref.digest)]

    def rename_mailbox(self, user: str, old: str, new: str) -> None:
        """RFC 9051 §6.3.6. A mailbox keeps its UIDs and UIDVALIDITY, and its inferiors
        ("old/x") move along. Renaming INBOX creates `new` with a new UIDVALIDITY, moves every
        INBOX message into it (same UIDs there) and leaves INBOX empty, its UIDNEXT untouched."""
        address, source, target = normalize_email(user), canonical_mailbox(old), _check_name(new)
        with self._write() as tx:
            locked = self._lock_box(tx, address, source)
            if target == INBOX or tx.one(
                "SELECT 1 FROM mailboxes WHERE user_email = ? AND name = ?", (address, target)
            ):
                raise AlreadyExists(f"mailbox {target!r} of user {address} already exists")
            if source == INBOX:
                self._rename_inbox(tx, address, locked, target)
                return
            if target.startswith(source + HIERARCHY_DELIMITER):
                raise StoreError(f"cannot rename {source!r} into its own inferior {target!r}")
            prefix = source + HIERARCHY_DELIMITER
            moves = [(source, target)] + [
                (str(n), target + str(n)[len(source) :])
                for (n,) in tx.all("SELECT name FROM mailboxes WHERE user_email = ?", (address,))
                if str(n).startswith(prefix)
            ]
            for _, to in moves[1:]:
                if tx.one(
                    "SELECT 1 FROM mailboxes WHERE user_email = ? AND name = ?", (address, to)
                ):
                    raise AlreadyExists(f"mailbox {to!r} of user {address} already exists")
            for frm, to in moves:
                tx.execute(
                    "UPDATE mailboxes SET name = ? WHERE user_email = ? AND name = ?",
                    (to, address, frm),
                )
            # the old names are free again; a mailbox created there must get a new UIDVALIDITY
            self._reserve_uidvalidity(tx)

    def _rename_inbox(self, tx: Tx, user: str, inbox: _Box, target: str) -> None:
        new_id, _ = self._insert_mailbox(tx, user, target, None, inbox.uidnext, inbox.highestmodseq)
        uids = [int(r[0]) for r in tx.all("SELECT uid FROM messages WHERE mailbox_id = ?",
                                          (inbox.id,))]  # fmt: skip
        if not uids:
            return
        tx.execute("UPDATE messages SET mailbox_id = ? WHERE mailbox_id = ?", (new_id, inbox.id))
        modseq = inbox.next_modseq()
        insert_values(
            tx,
            "INSERT INTO expunged (mailbox_id, uid, modseq)",
            [(inbox.id, uid, modseq) for uid in uids],
        )
        _save(tx, inbox)

    def set_subscribed(self, user: str, name: str, subscribed: bool) -> None:
        address, box = normalize_email(user), canonical_mailbox(name)
        with self._write() as tx:
            if not tx.execute(
                "UPDATE mailboxes SET subscribed = ? WHERE user_email = ? AND name = ?",
                (bool(subscribed), address, box),
            ):
                raise NotFound(f"mailbox {box!r} of user {address} does not exist")

    # --- messages --------------------------------------------------------------------------
    def append_message(
        self,
        user: str,
        mailbox: str,
        blob: BlobRef,
        body: bytes | None,
        flags: frozenset[str],
        internal_date: datetime,
        *,
        structure: MessageStructure | None = None,
    ) -> StoredMessage:
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        stored_flags = frozenset(normalize_flags(flags).values())
        row = None if body is None else blob_row(blob, body)
        when = self._ts_in(internal_date)
        with self._write() as tx:
            box = self._lock_box(tx, address, name)
            if row is not None:
                insert_blobs(tx, [row])
            if structure is not None:
                insert_structures(tx, [(blob.digest, structure)])
            uid = box.uidnext
            box.uidnext += 1
            modseq = box.next_modseq()
            tx.execute(
                _INSERT_MESSAGES + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (box.id, uid, blob.digest, blob.size, b"", blob.size, when,
                 encode_flags(stored_flags), modseq),
            )  # fmt: skip
            _save(tx, box)
            stored = tx.one(_MESSAGE_SELECT + " AND uid = ?", (box.id, uid))
        assert stored is not None
        return self._message(address, name, stored)

    def store_flags(
        self,
        user: str,
        mailbox: str,
        uids: Sequence[int],
        flags: frozenset[str],
        mode: Literal["set", "add", "remove"],
        unchanged_since: int | None = None,
    ) -> tuple[list[FlagChange], list[int]]:
        """Reads only (uid, flags, modseq), works out each distinct flag text's result once,
        and writes the changed rows with one executemany (a STORE on a whole mailbox was a
        statement and a full message row per message)."""
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        change = normalize_flags(flags)
        if mode not in ("set", "add", "remove"):
            raise StoreError(f"unknown flag store mode {mode!r}")
        changed: list[FlagChange] = []
        refused: list[int] = []
        results: dict[str, tuple[frozenset[str], str] | None] = {}  # text -> new flags, or None
        updates: list[tuple[str, int, int, int]] = []
        with self._write() as tx:
            box = self._lock_box(tx, address, name)
            for uid, text, modseq in _flag_rows(tx, box.id, uids):
                # RFC 7162 §3.1.3: a message changed since the client looked is left alone
                if unchanged_since is not None and modseq > unchanged_since:
                    refused.append(uid)
                    continue
                if text not in results:
                    before = decode_flags(text)
                    after = apply_flags(before, change, mode)
                    results[text] = None if after == before else (after, encode_flags(after))
                result = results[text]
                if result is None:
                    continue
                new_modseq = box.next_modseq()  # RFC 7162 §3.1.1: every change a new MODSEQ
                updates.append((result[1], new_modseq, box.id, uid))
                changed.append(FlagChange(uid, result[0], new_modseq))
            if updates:
                tx.executemany(
                    "UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
                    updates,
                )
                _save(tx, box)
        return changed, refused

    def copy_messages(
        self, user: str, source: str, uids: Sequence[int], target: str
    ) -> list[tuple[int, int]]:
        """(source UID, new target UID) per copied message, for COPYUID (RFC 4315)."""
        return self._transfer(user, source, uids, target, move=False)

    def move_messages(
        self, user: str, source: str, uids: Sequence[int], target: str
    ) -> list[tuple[int, int]]:
        """RFC 6851: copy and expunge from the source (tombstones included) in one
        transaction; returns the same mapping as copy_messages."""
        return self._transfer(user, source, uids, target, move=True)

    def _transfer(
        self, user: str, source: str, uids: Sequence[int], target: str, *, move: bool
    ) -> list[tuple[int, int]]:
        address = normalize_email(user)
        src_name, dst_name = canonical_mailbox(source), canonical_mailbox(target)
        with self._write() as tx:
            # both rows locked in name order, so two transfers in opposite directions
            # cannot deadlock
            boxes = {n: self._lock_box(tx, address, n) for n in sorted({src_name, dst_name})}
            src, dst = boxes[src_name], boxes[dst_name]
            mapping = self._copy_rows(tx, src, uids, dst)
            if not mapping:
                return []
            if move:
                _, modseq = expunge_rows(tx, src.id, src.highestmodseq, [old for old, _ in mapping])
                if modseq is not None:
                    src.highestmodseq = modseq
            for box in boxes.values():
                _save(tx, box)
            return mapping

    # --- CONDSTORE / QRESYNC --------------------------------------------------------
    def messages_since(self, user: str, mailbox: str, modseq: int) -> list[StoredMessage]:
        """Messages whose MODSEQ is above `modseq` (CHANGEDSINCE), in UID order."""
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        with self._read() as tx:
            box = self._find_box(tx, address, name)
            rows = tx.all(_MESSAGE_SELECT + " AND modseq > ? ORDER BY uid", (box, int(modseq)))
        return [self._message(address, name, r) for r in rows]

    def expunged_since(self, user: str, mailbox: str, modseq: int) -> list[int]:
        """UIDs expunged with a MODSEQ above `modseq` (QRESYNC VANISHED), ascending."""
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        with self._read() as tx:
            box = self._find_box(tx, address, name)
            rows = tx.all(
                "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
                (box, int(modseq)),
            )
        return [int(r[0]) for r in rows]

    @staticmethod
    def _find_box(tx: Tx, user: str, name: str) -> int:
        row = tx.one("SELECT id FROM mailboxes WHERE user_email = ? AND name = ?", (user, name))
        if row is None:
            raise NotFound(f"mailbox {name!r} of user {user} does not exist")
        return int(row[0])
