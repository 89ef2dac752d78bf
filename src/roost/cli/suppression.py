"""`roost suppression list|add|remove`: per-sending-domain lists of addresses not to mail.

The queue manager adds hard bounces here on its own (queue/suppression.py says which); these
commands let an operator see why an address is on a list, add one (a complaint, a request to
stop), or take one off after the recipient's mailbox works again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from roost.accounts.addresses import normalize_address
from roost.cli.context import CliState, fail, pass_state
from roost.cli.domain import parse_domain
from roost.cli.output import json_option, render
from roost.queue.suppression import suppression_for
from roost.store.types import Suppression

_COLUMNS = [
    ("sender_domain", "Sender domain"),
    ("address", "Address"),
    ("source", "Source"),
    ("created_at", "Added"),
    ("reason", "Reason"),
]


def parse_address(text: str) -> str:
    """normalize_address with its ValueError turned into an operator message."""
    try:
        return normalize_address(text)
    except ValueError as exc:
        raise fail(str(exc)) from None


def suppression_row(entry: Suppression) -> dict[str, Any]:
    """The stable JSON shape of one entry."""
    return {
        "sender_domain": entry.sender_domain,
        "address": entry.address,
        "reason": entry.reason,
        "source": entry.source,
        "created_at": entry.created_at,
    }


domain_option = click.option(
    "--domain", "sender_domain", metavar="D", help="The sending domain whose list it is."
)


@click.group()
def suppression() -> None:
    """Manage the per-sender-domain suppression lists."""


@suppression.command(name="list")
@domain_option
@json_option
@pass_state
def list_(state: CliState, sender_domain: str | None, as_json: bool) -> None:
    """List suppressed addresses (all domains, or --domain D only)."""
    wanted = parse_domain(sender_domain) if sender_domain is not None else None
    with state.store() as store:
        rows = [suppression_row(s) for s in store.list_suppressions(wanted)]
    render(rows, _COLUMNS, as_json=as_json, empty="no suppressed addresses")


@suppression.command()
@click.argument("address")
@click.option("--domain", "sender_domain", metavar="D", required=True, help="Sending domain.")
@click.option("--reason", default="added by the operator", show_default=True)
@pass_state
def add(state: CliState, address: str, sender_domain: str, reason: str) -> None:
    """Stop mail from domain D to ADDRESS (replaces an existing entry)."""
    entry = suppression_for(
        "@" + parse_domain(sender_domain),
        parse_address(address),
        reason,
        "admin",
        datetime.now(UTC),
    )
    with state.store() as store:
        store.add_suppression(entry)
    click.echo(f"suppressed {entry.address} for {entry.sender_domain}")


@suppression.command()
@click.argument("address")
@click.option("--domain", "sender_domain", metavar="D", required=True, help="Sending domain.")
@pass_state
def remove(state: CliState, address: str, sender_domain: str) -> None:
    """Allow mail from domain D to ADDRESS again."""
    domain_name, folded = parse_domain(sender_domain), parse_address(address)
    with state.store() as store:
        store.remove_suppression(domain_name, folded)
    click.echo(f"removed {folded} from {domain_name}'s suppression list")
