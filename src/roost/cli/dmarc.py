"""`roost dmarc report DOMAIN [--date]` and `roost dmarc sources DOMAIN`: DMARC aggregate
reports (RFC 7489 §7.2) Roost sends, and those it received about a local domain."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import click

from roost.auth.dmarc_ingest import ReceivedReport, ReportError, parse_report_message, summarize
from roost.auth.dmarc_report import build_report, report_id_for
from roost.cli.context import CliState, fail, pass_state
from roost.cli.output import echo_json, json_option, render
from roost.smtp.recipients import resolve
from roost.store.interface import BlobStore, Store


def _yesterday() -> str:
    return (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


def _check_day(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    if value is None:
        return _yesterday()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


def _domain(value: str) -> str:
    name = value.strip().rstrip(".").lower()
    if not name:
        raise fail("a domain is required")
    return name


@click.group()
def dmarc() -> None:
    """DMARC aggregate reports (RFC 7489): what Roost reports, and what others report to us."""


@dmarc.command()
@click.argument("domain")
@click.option(
    "--date",
    "day",
    default=None,
    callback=_check_day,
    metavar="YYYY-MM-DD",
    help="UTC day to report on (default: yesterday).",
)
@pass_state
def report(state: CliState, domain: str, day: str) -> None:
    """Print the aggregate report XML Roost would mail to DOMAIN for a day."""
    hostname = state.config.server.hostname
    name = _domain(domain)
    with state.store() as store:
        rows = store.dmarc_rows(name, day)
    document = build_report(
        hostname, f"postmaster@{hostname}", report_id_for(name, day, hostname), name, day,
        None, rows,
    )  # fmt: skip
    click.echo(document.decode("utf-8"), nl=False)


def _mailbox_owner(store: Store, domain: str, mailbox: str | None) -> str:
    """The user whose mailbox holds the reports: --mailbox, else where postmaster@ goes."""
    address = (mailbox or f"postmaster@{domain}").strip().lower()
    targets = resolve(store.load_directory(), address) or []
    local = [t.local_user for t in targets if t.local_user]
    if not local:
        raise fail(f"{address} is not a local mailbox (use --mailbox EMAIL)")
    return local[0]


def _reports(store: Store, blobs: BlobStore, user: str, folder: str) -> list[ReceivedReport]:
    """Every readable report in the folder; other mail there is skipped."""
    if store.get_mailbox(user, folder) is None:
        raise fail(f"{user} has no folder {folder!r}")
    out = []
    for msg in store.list_messages(user, folder):
        try:
            out.append(parse_report_message(msg.prefix + blobs.get(msg.blob)))
        except ReportError:
            continue
    return out


@dmarc.command()
@click.argument("domain")
@click.option(
    "--mailbox",
    metavar="EMAIL",
    default=None,
    help="Whose mailbox holds the reports (default: where postmaster@DOMAIN goes).",
)
@click.option("--folder", default="INBOX", show_default=True, help="Folder to read.")
@json_option
@pass_state
def sources(state: CliState, domain: str, mailbox: str | None, folder: str, as_json: bool) -> None:
    """Who sends mail as DOMAIN, from the aggregate reports received for it, and whether it
    passes DMARC (aligned DKIM or SPF)."""
    name = _domain(domain)
    with state.store() as store:
        user = _mailbox_owner(store, name, mailbox)
        reports = _reports(store, state.blobs(), user, folder)
    summaries = summarize(reports, name)
    rows = [
        {
            "source_ip": s.source_ip,
            "messages": s.messages,
            "dkim_aligned": s.dkim_aligned,
            "spf_aligned": s.spf_aligned,
            "dmarc_pass": s.dmarc_pass,
            "dmarc_fail": s.messages - s.dmarc_pass,
            "dispositions": dict(s.dispositions),
            "reporters": list(s.reporters),
        }
        for s in summaries
    ]
    if as_json:
        echo_json(rows)
        return
    table = [
        {
            **row,
            "dkim": f"{row['dkim_aligned']}/{row['messages']}",
            "spf": f"{row['spf_aligned']}/{row['messages']}",
            "dmarc": f"{row['dmarc_pass']} pass, {row['dmarc_fail']} fail",
            "disposition": ", ".join(f"{k} {v}" for k, v in s.dispositions),
        }
        for row, s in zip(rows, summaries, strict=True)
    ]
    columns = [
        ("source_ip", "Source IP"), ("messages", "Messages"), ("dkim", "DKIM aligned"),
        ("spf", "SPF aligned"), ("dmarc", "DMARC"), ("disposition", "Disposition"),
        ("reporters", "Reporter"),
    ]  # fmt: skip
    render(table, columns, as_json=False, empty=f"no DMARC reports about {name} in {folder}")
