"""Per-user STORAGE quota (RFC 9208): the limit and the usage counters on the users row.

`used_octets` and `used_messages` are kept by triggers on the messages table (migration 0005),
so every path that adds or removes messages, in this process or another node, updates them in
its own transaction; reading usage is one row, and the whole table is one cheap query.
"""

from __future__ import annotations

from roost.store._base import SqlBase
from roost.store.common import normalize_email
from roost.store.interface import NotFound, StoreError
from roost.store.types import QuotaUsage


class QuotaMixin(SqlBase):
    def set_quota(self, email: str, limit: int | None) -> None:
        """`limit` in octets (0 = unlimited for this user); None = the server default."""
        address = normalize_email(email)
        if limit is not None and (isinstance(limit, bool) or limit < 0):
            raise StoreError(f"quota limit must be a number of octets >= 0, not {limit!r}")
        with self._write() as tx:
            if not tx.execute("UPDATE users SET quota_limit = ? WHERE email = ?", (limit, address)):
                raise NotFound(f"user {address} does not exist")

    def get_quota(self, email: str) -> QuotaUsage:
        address = normalize_email(email)
        with self._read() as tx:
            row = tx.one(
                "SELECT quota_limit, used_octets, used_messages FROM users WHERE email = ?",
                (address,),
            )
        if row is None:
            raise NotFound(f"user {address} does not exist")
        return QuotaUsage(None if row[0] is None else int(row[0]), int(row[1]), int(row[2]))

    def quota_table(self) -> dict[str, QuotaUsage]:
        with self._read() as tx:
            rows = tx.all("SELECT email, quota_limit, used_octets, used_messages FROM users")
        return {
            str(r[0]): QuotaUsage(None if r[1] is None else int(r[1]), int(r[2]), int(r[3]))
            for r in rows
        }

    def mailbox_usage(self, user: str) -> int:
        """Octets (RFC822.SIZE) of all the user's messages, for QUOTA STORAGE (the counter;
        0 for an unknown user)."""
        address = normalize_email(user)
        with self._read() as tx:
            row = tx.one("SELECT used_octets FROM users WHERE email = ?", (address,))
        return 0 if row is None else int(row[0])
