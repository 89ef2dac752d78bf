"""Rendering for list commands: rich tables for people, `--json` with stable keys for scripts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

Row = Mapping[str, Any]

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array, stable keys)."
)


def fmt_time(value: datetime) -> str:
    """UTC, seconds precision: short enough for a table column."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return fmt_time(value)
    if isinstance(value, list | tuple):
        return "\n".join(_cell(v) for v in value)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


def make_console() -> Console:
    """A console on the current stdout; wide when not a terminal so pipes get whole lines."""
    con = Console()
    if not con.is_terminal:
        con = Console(width=200)
    return con


def render(
    rows: Sequence[Row], columns: Sequence[tuple[str, str]], *, as_json: bool, empty: str
) -> None:
    """Print rows as JSON (all keys) or as a table of `columns` ((key, header) pairs)."""
    if as_json:
        echo_json([dict(r) for r in rows])
        return
    if not rows:
        click.echo(empty)
        return
    table = Table(*(header for _, header in columns), show_lines=False)
    for row in rows:
        table.add_row(*(_cell(row.get(key)) for key, _ in columns))
    make_console().print(table)
