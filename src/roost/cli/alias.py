"""`roost alias add|list|remove`: addresses (or "@domain" catch-alls) that forward to others."""

from __future__ import annotations

import click

from roost.accounts.addresses import domain_of, normalize_alias_source
from roost.cli.context import CliState, fail, pass_state
from roost.cli.output import json_option, render
from roost.cli.user import parse_address, require_local_domain


def parse_source(text: str) -> str:
    try:
        return normalize_alias_source(text)
    except ValueError as exc:
        raise fail(str(exc)) from None


@click.group()
def alias() -> None:
    """Manage aliases and catch-alls."""


@alias.command()
@click.argument("source")
@click.argument("targets", nargs=-1, required=True)
@pass_state
def add(state: CliState, source: str, targets: tuple[str, ...]) -> None:
    """Deliver mail for SOURCE (user@domain or @domain) to TARGETS (local or remote)."""
    source = parse_source(source)
    normalized = [parse_address(t) for t in targets]
    with state.store() as store:
        require_local_domain(store, "@" + domain_of(source))
        store.add_alias(source, normalized)
    click.echo(f"added alias {source} -> {', '.join(normalized)}")


@alias.command(name="list")
@json_option
@pass_state
def list_(state: CliState, as_json: bool) -> None:
    """List aliases."""
    with state.store() as store:
        aliases = sorted(store.list_aliases(), key=lambda a: a.source)
    rows = [{"source": a.source, "targets": list(a.targets)} for a in aliases]
    render(
        rows, [("source", "Source"), ("targets", "Targets")], as_json=as_json, empty="no aliases"
    )


@alias.command()
@click.argument("source")
@pass_state
def remove(state: CliState, source: str) -> None:
    """Delete the alias SOURCE."""
    source = parse_source(source)
    with state.store() as store:
        store.remove_alias(source)
    click.echo(f"removed alias {source}")
