"""RFC 7489 §7.2 DMARC aggregate data: evaluations counted per UTC day and policy domain.

A report row is "one source, one set of results, a message count", so the store keeps counters,
not events. A row's identity is every field of the evaluation; its canonical JSON is stored and
its SHA-256 is the key. A batch is summed in memory first: one upsert may not touch the same row
twice (PostgreSQL refuses it), and fewer rows is cheaper.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, replace

from roost.store._base import SqlBase, insert_values
from roost.store.common import normalize_domain
from roost.store.types import DmarcEvaluation

_UPSERT_TAIL = (
    " ON CONFLICT (policy_domain, day, row_key) DO UPDATE SET"
    " messages = dmarc_results.messages + excluded.messages"
)


def _normal(row: DmarcEvaluation) -> DmarcEvaluation:
    """Domains compared case-insensitively; lists as tuples (JSON round trips give lists)."""
    return replace(
        row,
        policy_domain=normalize_domain(row.policy_domain),
        header_from=row.header_from.strip().rstrip(".").lower(),
        envelope_from=row.envelope_from.strip().rstrip(".").lower(),
        envelope_to=row.envelope_to.strip().rstrip(".").lower(),
        dkim=tuple((d.lower(), s, r) for d, s, r in row.dkim),
        spf=tuple((d.lower(), scope, r) for d, scope, r in row.spf),
    )


def encode(row: DmarcEvaluation) -> str:
    """Canonical JSON (sorted keys, no spaces): equal evaluations give equal text."""
    return json.dumps(asdict(row), sort_keys=True, separators=(",", ":"))


def decode(text: str) -> DmarcEvaluation:
    data = json.loads(text)
    data["dkim"] = tuple(tuple(x) for x in data["dkim"])
    data["spf"] = tuple(tuple(x) for x in data["spf"])
    return DmarcEvaluation(**data)


def _sort_key(row: DmarcEvaluation) -> tuple[str, str]:
    return (row.source_ip, row.header_from)


class DmarcMixin(SqlBase):
    def record_dmarc(self, rows: Sequence[DmarcEvaluation]) -> None:
        counts: dict[str, tuple[DmarcEvaluation, int]] = {}
        for row in rows:
            text = encode(_normal(row))
            row0, n = counts.get(text, (_normal(row), 0))
            counts[text] = (row0, n + 1)
        if not counts:
            return
        values = [
            (r.policy_domain, r.day, hashlib.sha256(text.encode()).hexdigest(), r.source_ip,
             r.header_from, text, n)
            for text, (r, n) in counts.items()
        ]  # fmt: skip
        with self._write() as tx:
            insert_values(
                tx,
                "INSERT INTO dmarc_results (policy_domain, day, row_key, source_ip, header_from,"
                " evaluation, messages)",
                values,
                _UPSERT_TAIL,
            )

    def dmarc_rows(self, policy_domain: str, day: str) -> list[tuple[DmarcEvaluation, int]]:
        with self._read() as tx:
            rows = tx.all(
                "SELECT evaluation, messages FROM dmarc_results WHERE policy_domain = ?"
                " AND day = ?",
                (normalize_domain(policy_domain), day),
            )
        # Sorted here, not in SQL: the two backends collate text differently.
        ordered = sorted(rows, key=lambda r: (_sort_key(decode(r[0])), r[0]))
        return [(decode(row[0]), int(row[1])) for row in ordered]

    def dmarc_report_domains(self, day: str) -> list[str]:
        with self._read() as tx:
            rows = tx.all(
                "SELECT DISTINCT policy_domain FROM dmarc_results WHERE day = ?"
                " ORDER BY policy_domain",
                (day,),
            )
        return [row[0] for row in rows]
