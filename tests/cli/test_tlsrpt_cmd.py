"""`roost tlsrpt report DOMAIN [--day]` prints the RFC 8460 JSON from the store's counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from roost.store.types import TlsResult
from tests.cli.helpers import Run, as_json, open_from


def _record(config_file: Path, day: str) -> None:
    store = open_from(config_file)
    try:
        store.record_tls_results(
            [
                TlsResult("example.test", day, "no-policy-found", "", "mx.example.test",
                          "192.0.2.1", "", True),
                TlsResult("example.test", day, "no-policy-found", "", "mx.example.test",
                          "192.0.2.1", "starttls-not-supported", False),
            ]
        )  # fmt: skip
    finally:
        store.close()


def test_report_for_a_day(roost: Run, config_file: Path) -> None:
    _record(config_file, "2024-05-01")
    report = as_json(roost("tlsrpt", "report", "Example.Test", "--day", "2024-05-01"))
    assert report["date-range"]["start-datetime"] == "2024-05-01T00:00:00Z"
    assert report["organization-name"] == "mx.roost.test"
    assert report["contact-info"] == "postmaster@mx.roost.test"
    [policy] = report["policies"]
    assert policy["policy"]["policy-domain"] == "example.test"
    assert policy["summary"] == {
        "total-successful-session-count": 1,
        "total-failure-session-count": 1,
    }
    assert policy["failure-details"][0]["result-type"] == "starttls-not-supported"


def test_default_day_is_yesterday_utc(roost: Run, config_file: Path) -> None:
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    _record(config_file, yesterday)
    report = as_json(roost("tlsrpt", "report", "example.test"))
    assert report["date-range"]["start-datetime"] == f"{yesterday}T00:00:00Z"
    assert len(report["policies"]) == 1


def test_bad_day_is_refused(roost: Run) -> None:
    result = roost("tlsrpt", "report", "example.test", "--day", "May 1", ok=False)
    assert result.exit_code != 0
    assert "YYYY-MM-DD" in result.output
