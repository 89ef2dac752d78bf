"""RFC 8460 TLS reporting: per-day counters of TLS outcomes, and the MTA-STS policy cache.

Every delivery adds one outcome; the daily report needs only sums per (policy, MX, IP, result
type), so the store keeps counters rather than events. A batch is summed in memory first: one
upsert may not touch the same row twice (PostgreSQL refuses it), and fewer rows is cheaper.
The policy text is keyed by its SHA-256 digest, since a remote domain chooses its length.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from roost.store._base import Row, SqlBase, insert_values
from roost.store.common import normalize_domain
from roost.store.types import CachedPolicy, TlsResult, TlsResultCount

_KEY = "policy_domain, day, policy_type, policy_digest, mx_host, receiving_ip, result_type"
# Both dialects (SQLite >= 3.24, PostgreSQL >= 9.5) accept this upsert form; the table name
# qualifies the stored counter, `excluded` is the row being added.
_UPSERT_TAIL = (
    f" ON CONFLICT ({_KEY}) DO UPDATE SET"
    " successes = tlsrpt_results.successes + excluded.successes,"
    " failures = tlsrpt_results.failures + excluded.failures"
)
# Reports list rows by their readable key (policy text, not its digest).
_ORDER = "policy_type, policy_string, mx_host, receiving_ip, result_type"
_COUNT_COLUMNS = (
    "policy_domain, day, policy_type, policy_string, mx_host, receiving_ip, result_type,"
    " successes, failures"
)
_POLICY_COLUMNS = "domain, policy_id, text, fetched_at, expires_at"

_Key = tuple[str, str, str, str, str, str, str]


def _key(r: TlsResult) -> _Key:
    return (normalize_domain(r.policy_domain), r.day, r.policy_type, r.policy_string,
            r.mx_host, r.receiving_ip, r.result_type)  # fmt: skip


def sum_results(results: Sequence[TlsResult]) -> dict[_Key, list[int]]:
    """[successes, failures] per distinct key (policy_string in the key, not yet its digest)."""
    sums: dict[_Key, list[int]] = {}
    for r in results:
        counts = sums.setdefault(_key(r), [0, 0])
        counts[0 if r.success else 1] += 1
    return sums


def _row(key: _Key, counts: list[int]) -> tuple[object, ...]:
    domain, day, policy_type, policy_string, mx_host, ip, result_type = key
    digest = hashlib.sha256(policy_string.encode()).hexdigest()
    return (domain, day, policy_type, digest, policy_string, mx_host, ip, result_type, *counts)


class TlsReportMixin(SqlBase):
    def record_tls_results(self, results: Sequence[TlsResult]) -> None:
        rows = [_row(key, counts) for key, counts in sum_results(results).items()]
        if not rows:
            return
        with self._write() as tx:
            insert_values(
                tx,
                "INSERT INTO tlsrpt_results (policy_domain, day, policy_type, policy_digest,"
                " policy_string, mx_host, receiving_ip, result_type, successes, failures)",
                rows,
                _UPSERT_TAIL,
            )

    def tls_result_counts(self, policy_domain: str, day: str) -> list[TlsResultCount]:
        with self._read() as tx:
            rows = tx.all(
                f"SELECT {_COUNT_COLUMNS} FROM tlsrpt_results WHERE policy_domain = ? AND day = ?"
                f" ORDER BY {_ORDER}",
                (normalize_domain(policy_domain), day),
            )
        return [_count(row) for row in rows]

    def tls_report_domains(self, day: str) -> list[str]:
        with self._read() as tx:
            rows = tx.all(
                "SELECT DISTINCT policy_domain FROM tlsrpt_results WHERE day = ?"
                " ORDER BY policy_domain",
                (day,),
            )
        return [row[0] for row in rows]

    # --- MTA-STS policy cache (RFC 8461 §5.1) -----------------------------------------------
    def get_mta_sts_policy(self, domain: str) -> CachedPolicy | None:
        """Returned even when expired: whether a stale policy still applies is the caller's
        decision (RFC 8461 §5.1 keeps using it while a refresh fails)."""
        with self._read() as tx:
            row = tx.one(
                f"SELECT {_POLICY_COLUMNS} FROM mta_sts_policies WHERE domain = ?",
                (normalize_domain(domain),),
            )
        return None if row is None else self._policy(row)

    def put_mta_sts_policy(self, policy: CachedPolicy) -> None:
        """Replaces the cached policy for its domain: the newest fetch wins."""
        with self._write() as tx:
            tx.execute(
                f"INSERT INTO mta_sts_policies ({_POLICY_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id,"
                " text = excluded.text, fetched_at = excluded.fetched_at,"
                " expires_at = excluded.expires_at",
                (normalize_domain(policy.domain), policy.policy_id, policy.text,
                 self._ts_in(policy.fetched_at), self._ts_in(policy.expires_at)),
            )  # fmt: skip

    def _policy(self, row: Row) -> CachedPolicy:
        return CachedPolicy(row[0], row[1], row[2], self._ts_out(row[3]), self._ts_out(row[4]))


def _count(row: Row) -> TlsResultCount:
    domain, day, policy_type, policy_string, mx_host, ip, result_type = row[:7]
    return TlsResultCount(
        domain, day, policy_type, policy_string, mx_host, ip, result_type, int(row[7]), int(row[8])
    )
