"""Reads the IMAP session makes on SELECT, FETCH, STATUS and its change polling.

Each is one read transaction (one snapshot). They read only the columns they need: SELECT of a
mailbox of 100,000 messages reads the uid column through the (mailbox_id, uid) primary key.
"""

from __future__ import annotations

from collections.abc import Sequence

from roost.store._base import Row, Tx, uid_runs
from roost.store._mailstore import _MESSAGE_SELECT, MailMixin, _mailbox
from roost.store.common import canonical_mailbox, normalize_email
from roost.store.interface import NotFound
from roost.store.types import HeaderRow, MailboxInfo, MailboxStatus, StoredMessage

_CHUNK = 200
# Flags are stored sorted and space-separated with system flags in canonical case
# (common.encode_flags), so " flags " contains " \Seen " exactly when the flag is set. The
# pattern is a bound parameter; ESCAPE '!' makes the backslash ordinary in PostgreSQL too.
_HAS_FLAG = "(' ' || flags || ' ') LIKE ? ESCAPE '!'"
_SEEN = "% \\Seen %"
_DELETED = "% \\Deleted %"
_HEADER_SELECT = (
    "SELECT m.uid, m.flags, m.modseq, m.size, m.prefix, s.header, m.blob_digest, m.blob_size, 0"
    " FROM messages m LEFT JOIN message_structures s ON s.digest = m.blob_digest"
    " WHERE m.mailbox_id = ?"
)
# With a word: whether the lower-cased ASCII header lacks it. LIKE is ASCII case-insensitive in
# SQLite and case-sensitive in PostgreSQL; both folded sides are lower-case, so they agree.
_WORD_SELECT = (
    "SELECT m.uid, m.flags, m.modseq, m.size, m.prefix, s.header, m.blob_digest, m.blob_size,"
    " CASE WHEN s.header_fold IS NOT NULL AND s.header_fold NOT LIKE ? ESCAPE '!' THEN 1 ELSE 0"
    " END FROM messages m LEFT JOIN message_structures s ON s.digest = m.blob_digest"
    " WHERE m.mailbox_id = ?"
)


def _like_anywhere(word: str) -> str:
    escaped = word.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


class ImapReadsMixin(MailMixin):
    def _box_row(self, tx: Tx, user: str, name: str) -> Row:
        row = tx.one(
            "SELECT id, user_email, name, uidvalidity, uidnext, highestmodseq, subscribed,"
            " special_use FROM mailboxes WHERE user_email = ? AND name = ?",
            (user, name),
        )
        if row is None:
            raise NotFound(f"mailbox {name!r} of user {user} does not exist")
        return row

    @staticmethod
    def _info(row: Row, messages: int) -> MailboxInfo:
        return _mailbox((*row[1:6], row[6], messages, row[7]))

    def mailbox_uids(self, user: str, mailbox: str) -> tuple[MailboxInfo, list[int]]:
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        with self._read() as tx:
            row = self._box_row(tx, address, name)
            uids = [
                int(r[0])
                for r in tx.all(
                    "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid", (row[0],)
                )
            ]
        return self._info(row, len(uids)), uids

    def mailbox_index(
        self, user: str, mailbox: str
    ) -> tuple[MailboxInfo, list[tuple[int, str, int]]]:
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        with self._read() as tx:
            row = self._box_row(tx, address, name)
            # Both drivers give int, str, int already: the rows go out as they come (a
            # conversion per value was 40 % of a SELECT of 10,000 messages).
            index: list[tuple[int, str, int]] = tx.all(
                "SELECT uid, flags, modseq FROM messages WHERE mailbox_id = ? ORDER BY uid",
                (row[0],),
            )
        return self._info(row, len(index)), index

    def get_messages(self, user: str, mailbox: str, uids: Sequence[int]) -> list[StoredMessage]:
        """Runs of consecutive UIDs (the usual 1:* or a:b FETCH) are read as ranges, the
        rest in IN lists of at most _CHUNK values."""
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        wanted = sorted({int(u) for u in uids})
        rows: list[Row] = []
        with self._read() as tx:
            box_id = int(self._box_row(tx, address, name)[0])
            singles: list[int] = []
            for first, last in uid_runs(wanted):
                if last - first >= 8:
                    rows += tx.all(
                        _MESSAGE_SELECT + " AND uid BETWEEN ? AND ?", (box_id, first, last)
                    )
                else:
                    singles.extend(range(first, last + 1))
            for start in range(0, len(singles), _CHUNK):
                part = singles[start : start + _CHUNK]
                marks = ", ".join("?" * len(part))
                rows += tx.all(_MESSAGE_SELECT + f" AND uid IN ({marks})", (box_id, *part))
        rows.sort(key=lambda r: int(r[0]))
        return [self._message(address, name, r) for r in rows]

    def header_rows(
        self, user: str, mailbox: str, uids: Sequence[int], word: str | None = None
    ) -> list[HeaderRow]:
        """Like get_messages for header FETCH and SEARCH: the stored header block instead of the
        internal date, read in the same ranges and IN lists."""
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        select: str = _HEADER_SELECT
        words: tuple[str, ...] = ()
        if word:
            select, words = _WORD_SELECT, (_like_anywhere(word),)
        wanted = sorted({int(u) for u in uids})
        rows: list[Row] = []
        with self._read() as tx:
            box_id = int(self._box_row(tx, address, name)[0])
            singles: list[int] = []
            for first, last in uid_runs(wanted):
                if last - first >= 8:
                    rows += tx.all(
                        select + " AND m.uid BETWEEN ? AND ?", (*words, box_id, first, last)
                    )
                else:
                    singles.extend(range(first, last + 1))
            for start in range(0, len(singles), _CHUNK):
                part = singles[start : start + _CHUNK]
                marks = ", ".join("?" * len(part))
                rows += tx.all(select + f" AND m.uid IN ({marks})", (*words, box_id, *part))
        rows.sort(key=lambda r: int(r[0]))
        make = HeaderRow._make
        return [
            make(r)
            if type(r[4]) is bytes and (r[5] is None or type(r[5]) is bytes)
            else make((*r[:4], bytes(r[4]), None if r[5] is None else bytes(r[5]), *r[6:]))
            for r in rows
        ]

    def first_unseen(self, user: str, mailbox: str) -> int | None:
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        with self._read() as tx:
            box_id = self._box_row(tx, address, name)[0]
            row = tx.one(
                f"SELECT MIN(uid) FROM messages WHERE mailbox_id = ? AND NOT {_HAS_FLAG}",
                (box_id, _SEEN),
            )
        return None if row is None or row[0] is None else int(row[0])

    def mailbox_status(self, user: str, mailbox: str) -> MailboxStatus:
        address, name = normalize_email(user), canonical_mailbox(mailbox)
        with self._read() as tx:
            box = self._box_row(tx, address, name)
            counts = tx.one(
                f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN {_HAS_FLAG} THEN 0 ELSE 1 END), 0),"
                f" COALESCE(SUM(CASE WHEN {_HAS_FLAG} THEN 1 ELSE 0 END), 0),"
                " COALESCE(SUM(size), 0) FROM messages WHERE mailbox_id = ?",
                (_SEEN, _DELETED, box[0]),
            )
        assert counts is not None
        total, unseen, deleted, size = (int(c) for c in counts)
        return MailboxStatus(self._info(box, total), unseen, deleted, size)

    def mailbox_marks(self, users: Sequence[str]) -> dict[tuple[str, str], tuple[int, int, int]]:
        addresses = sorted({normalize_email(u) for u in users})
        marks: dict[tuple[str, str], tuple[int, int, int]] = {}
        if not addresses:
            return marks
        with self._read() as tx:
            for start in range(0, len(addresses), _CHUNK):
                part = addresses[start : start + _CHUNK]
                holders = ", ".join("?" * len(part))
                for email, name, validity, modseq, uidnext in tx.all(
                    "SELECT user_email, name, uidvalidity, highestmodseq, uidnext FROM mailboxes"
                    f" WHERE user_email IN ({holders})",
                    part,
                ):
                    marks[(str(email), str(name))] = (int(validity), int(modseq), int(uidnext))
        return marks
