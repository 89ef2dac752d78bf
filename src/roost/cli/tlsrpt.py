"""`roost tlsrpt report DOMAIN [--day]`: show the RFC 8460 report Roost would mail for a day.

The same JSON the daily report mail carries, so an operator can see what a receiving domain
will be told (and check the counters) without waiting for the mail.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import click

from roost.cli.context import CliState, fail, pass_state
from roost.cli.output import echo_json
from roost.delivery.tlsrpt import build_report


def _yesterday() -> str:
    return (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


def _check_day(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    if value is None:
        return _yesterday()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


@click.group()
def tlsrpt() -> None:
    """SMTP TLS reports (RFC 8460) about outbound deliveries."""


@tlsrpt.command()
@click.argument("domain")
@click.option(
    "--day",
    default=None,
    callback=_check_day,
    metavar="YYYY-MM-DD",
    help="UTC day to report on (default: yesterday).",
)
@pass_state
def report(state: CliState, domain: str, day: str) -> None:
    """Print DOMAIN's TLS report for a day as JSON."""
    config = state.config
    hostname = config.server.hostname
    name = domain.strip().rstrip(".").lower()
    if not name:
        raise fail("a domain is required")
    with state.store() as store:
        data = build_report(
            store,
            name,
            day,
            organization=hostname,
            contact=f"postmaster@{hostname}",
            submitter=hostname,
        )
    echo_json(data)
