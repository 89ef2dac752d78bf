"""From what remote servers answered to what the queue records (pure functions, table-tested).

A delivery attempt ends, for each recipient, in one of three states: delivered (2xx after the
data), bounced (5xx: permanent, RFC 5321 §4.2.1) or deferred (4xx or no answer). A deferred
recipient whose message has outlived the queue lifetime becomes bounced (RFC 5321 §4.5.4.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from roost.delivery.smtp_session import MessageResult, SessionReport
from roost.store.types import AttemptLog, QueueEntry, RcptOutcome, RcptStatus

_STATUS = {
    "delivered": RcptStatus.DELIVERED,
    "deferred": RcptStatus.DEFERRED,
    "bounced": RcptStatus.BOUNCED,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One recipient's result with the parts DSNs and suppression need."""

    idx: int
    address: str
    status: RcptStatus
    code: int
    enhanced: str
    text: str
    remote_mta: str

    @property
    def reply(self) -> str:
        return " ".join(p for p in (str(self.code), self.enhanced, self.text) if p)

    def outcome(self) -> RcptOutcome:
        return RcptOutcome(self.idx, self.status, self.reply)


def open_recipients(entry: QueueEntry) -> list[int]:
    """Indexes still to deliver remotely (pending or deferred, not a local mailbox copy)."""
    waiting = (RcptStatus.PENDING, RcptStatus.DEFERRED)
    return [r.idx for r in entry.recipients if r.status in waiting and r.deliver_to is None]


def verdicts_from(
    entry: QueueEntry, indexes: Sequence[int], result: MessageResult | None, remote: str
) -> list[Verdict]:
    """Map a session's per-address results back to recipient indexes (addresses may repeat)."""
    by_address = {r.address.lower(): r for r in result.recipients} if result else {}
    addresses = {r.idx: r.address for r in entry.recipients}
    out = []
    for idx in indexes:
        got = by_address.get(addresses[idx].lower())
        if got is None:
            out.append(uniform(idx, addresses[idx], RcptStatus.DEFERRED, 451, "4.4.0",
                               "no result from the remote server", remote))  # fmt: skip
            continue
        status = _STATUS[got.status]
        out.append(Verdict(idx, addresses[idx], status, got.code, got.enhanced, got.text, remote))
    return out


def uniform(
    idx: int, address: str, status: RcptStatus, code: int, enhanced: str, text: str, remote: str
) -> Verdict:
    return Verdict(idx, address, status, code, enhanced, text, remote)


def same_for_all(
    entry: QueueEntry, indexes: Iterable[int], status: RcptStatus, code: int, enhanced: str,
    text: str, remote: str = "",
) -> list[Verdict]:  # fmt: skip
    """The same verdict for several recipients (no route, lifetime over, suppressed ...)."""
    addresses = {r.idx: r.address for r in entry.recipients}
    return [uniform(i, addresses[i], status, code, enhanced, text, remote) for i in indexes]


def expire(verdicts: Sequence[Verdict], give_up: bool) -> list[Verdict]:
    """At the end of the queue lifetime, deferred recipients bounce with their last reply."""
    if not give_up:
        return list(verdicts)
    out = []
    for v in verdicts:
        if v.status is RcptStatus.DEFERRED:
            text = f"gave up after the queue lifetime; last reply: {v.reply}"
            v = Verdict(v.idx, v.address, RcptStatus.BOUNCED, 550, "5.4.7", text, v.remote_mta)
        out.append(v)
    return out


def attempt_log(
    entry: QueueEntry, verdicts: Sequence[Verdict], report: SessionReport | None, at: datetime
) -> AttemptLog:
    """One line for `roost queue show`: where we tried, over what, and what came back."""
    worst = max((v.status for v in verdicts), key=_severity, default=RcptStatus.DEFERRED)
    reply = next((v.reply for v in verdicts if v.status is worst), "")
    if report is None:
        return AttemptLog(entry.queue_id, at, tuple(v.idx for v in verdicts), "", "", 0, "",
                          reply, worst)  # fmt: skip
    endpoint = report.endpoint
    return AttemptLog(
        entry.queue_id, at, tuple(v.idx for v in verdicts), endpoint.host, endpoint.ip,
        endpoint.port, report.tls or "", reply, worst,
    )  # fmt: skip


def _severity(status: RcptStatus) -> int:
    return {RcptStatus.DELIVERED: 0, RcptStatus.DEFERRED: 1, RcptStatus.BOUNCED: 2}.get(status, 1)


def connection_failed(report: SessionReport) -> bool:
    """The session never got as far as the recipients: worth trying the next MX host."""
    if report.error is None:
        return False
    return all(r.status == "deferred" for result in report.results for r in result.recipients)
