"""`roost domain add|list|remove`: the domains this server accepts mail for."""

from __future__ import annotations

import click

from roost.accounts.addresses import normalize_domain
from roost.cli.context import CliState, fail, pass_state
from roost.cli.output import json_option, render


def parse_domain(text: str) -> str:
    """normalize_domain with its ValueError turned into an operator message."""
    try:
        return normalize_domain(text)
    except ValueError as exc:
        raise fail(str(exc)) from None


@click.group()
def domain() -> None:
    """Manage local domains."""


@domain.command()
@click.argument("name")
@pass_state
def add(state: CliState, name: str) -> None:
    """Accept mail for domain NAME."""
    name = parse_domain(name)
    with state.store() as store:
        store.add_domain(name)
    click.echo(f"added domain {name}")


@domain.command(name="list")
@json_option
@pass_state
def list_(state: CliState, as_json: bool) -> None:
    """List local domains."""
    with state.store() as store:
        rows = [{"domain": d} for d in sorted(store.list_domains())]
    render(rows, [("domain", "Domain")], as_json=as_json, empty="no domains")


@domain.command()
@click.argument("name")
@pass_state
def remove(state: CliState, name: str) -> None:
    """Stop accepting mail for NAME (refused while it still has users)."""
    name = parse_domain(name)
    with state.store() as store:
        store.remove_domain(name)
    click.echo(f"removed domain {name}")
