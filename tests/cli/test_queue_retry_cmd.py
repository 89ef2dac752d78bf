"""`roost queue retry|flush` and the attempt history in `roost queue show`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from roost.store.types import AttemptLog, AttemptResult, RcptOutcome, RcptStatus
from tests.cli.helpers import Run, as_json, enqueue, open_from
from tests.cli.test_queue_cmd import MESSAGE, REMOTE


def defer_once(config_file: Path, queue_id: str) -> datetime:
    """Claim the message and record a deferral an hour out, as the queue manager would."""
    store = open_from(config_file)
    now = datetime.now(UTC)
    later = now + timedelta(hours=1)
    try:
        (entry,) = store.claim_due("node-a", now, 10, timedelta(minutes=5))
        log = AttemptLog(entry.queue_id, now, (0, 1), "mx.far.test", "192.0.2.25", 25,
                         "TLSv1.3 TLS_AES_256_GCM_SHA384", "451 4.7.1 try later",
                         RcptStatus.DEFERRED)  # fmt: skip
        outcomes = tuple(RcptOutcome(i, RcptStatus.DEFERRED, "451 4.7.1 try later") for i in (0, 1))
        store.record_attempt(entry.queue_id, "node-a", AttemptResult(outcomes, (log,), later))
    finally:
        store.close()
    return later


def test_show_lists_attempts(roost: Run, config_file: Path) -> None:
    """queue show prints each attempt: time, MX host, IP, TLS and the remote reply."""
    qid = enqueue(config_file, MESSAGE, REMOTE)
    defer_once(config_file, qid)
    text = roost("queue", "show", qid).stdout
    assert "mx.far.test[192.0.2.25]:25 TLSv1.3 TLS_AES_256_GCM_SHA384: deferred: 451 4.7.1" in text
    (attempt,) = as_json(roost("queue", "show", qid, "--json"))["attempts"]
    assert attempt["mx_host"] == "mx.far.test"
    assert attempt["status"] == "deferred"


def test_retry_makes_a_deferred_message_due(roost: Run, config_file: Path) -> None:
    """queue retry ID moves the next attempt to now; --all and flush do it for every message."""
    qid = enqueue(config_file, MESSAGE, REMOTE)
    later = defer_once(config_file, qid)
    assert as_json(roost("queue", "list", "--json"))[0]["state"] == "deferred"
    assert "1 message(s) due now" in roost("queue", "retry", qid).stdout
    store = open_from(config_file)
    try:
        entry = store.get_queue_entry(qid)
        assert entry is not None
        assert entry.next_attempt < later
    finally:
        store.close()
    assert "1 message(s) due now" in roost("queue", "retry", "--all").stdout
    assert "1 message(s) due now" in roost("queue", "flush").stdout


def test_retry_needs_an_id_or_all(roost: Run) -> None:
    """Neither an ID nor --all is an operator mistake with a clear message."""
    result = roost("queue", "retry", ok=False)
    assert result.exit_code == 1
    assert "give a queue ID or --all" in result.output
