"""Per-sender suppression lists: recipients a sending domain must not mail again (hard bounces,
complaints, operator entries), checked before every remote delivery.

Lists are per sending domain so one tenant's bounces never silence another's mail. Both key
parts are stored lower-cased, as every address in the store is, so lookups ignore case.
"""

from __future__ import annotations

from roost.store._base import Row, SqlBase
from roost.store.common import fold_address, normalize_domain
from roost.store.interface import NotFound
from roost.store.types import Suppression

_COLUMNS = "sender_domain, address, reason, source, created_at"


def _key(sender_domain: str, address: str) -> tuple[str, str]:
    return normalize_domain(sender_domain), fold_address(address)


class SuppressionMixin(SqlBase):
    def add_suppression(self, entry: Suppression) -> None:
        """Replaces an existing entry: the newest reason (and its time) is the one that counts."""
        row = (*_key(entry.sender_domain, entry.address), entry.reason, entry.source,
               self._ts_in(entry.created_at))  # fmt: skip
        with self._write() as tx:
            tx.execute(
                f"INSERT INTO suppressions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (sender_domain, address) DO UPDATE SET reason = excluded.reason,"
                " source = excluded.source, created_at = excluded.created_at",
                row,
            )

    def remove_suppression(self, sender_domain: str, address: str) -> None:
        key = _key(sender_domain, address)
        with self._write() as tx:
            if not tx.execute(
                "DELETE FROM suppressions WHERE sender_domain = ? AND address = ?", key
            ):
                raise NotFound(f"{key[1]} is not suppressed for {key[0]}")

    def list_suppressions(self, sender_domain: str | None = None) -> list[Suppression]:
        where, params = "", ()  # type: tuple[str, tuple[str, ...]]
        if sender_domain is not None:
            where, params = " WHERE sender_domain = ?", (normalize_domain(sender_domain),)
        with self._read() as tx:
            rows = tx.all(
                f"SELECT {_COLUMNS} FROM suppressions{where} ORDER BY sender_domain, address",
                params,
            )
        return [self._suppression(row) for row in rows]

    def find_suppression(self, sender_domain: str, address: str) -> Suppression | None:
        with self._read() as tx:
            row = tx.one(
                f"SELECT {_COLUMNS} FROM suppressions WHERE sender_domain = ? AND address = ?",
                _key(sender_domain, address),
            )
        return None if row is None else self._suppression(row)

    def _suppression(self, row: Row) -> Suppression:
        return Suppression(row[0], row[1], row[2], row[3], self._ts_out(row[4]))
