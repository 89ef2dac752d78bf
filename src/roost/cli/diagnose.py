"""`roost diagnose FILE.eml`: why a received message passes or fails SPF, DKIM, DMARC and ARC.

Exit status 0 when DMARC passes (or the From domain has no policy), 1 otherwise, so scripts can
use it as a test. DNS goes through the configured `[dns]` resolver.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from roost.auth.diagnose import diagnose as run_diagnosis
from roost.auth.diagnose import render_text
from roost.cli.context import CliState, fail, pass_state
from roost.cli.output import echo_json
from roost.dns.resolver import Resolver

MAX_MESSAGE_BYTES = 64 * 2**20


@click.command()
@click.argument("path", metavar="FILE.eml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--ip", default=None, help="Client IP (default: from Roost's Received line).")
@click.option("--helo", default=None, help="HELO name (default: from Roost's Received line).")
@click.option(
    "--mail-from",
    "mail_from",
    default=None,
    metavar="ADDRESS",
    help='Envelope sender, "" for a bounce (default: from Return-Path).',
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def diagnose(
    state: CliState,
    path: Path,
    ip: str | None,
    helo: str | None,
    mail_from: str | None,
    as_json: bool,
) -> None:
    """Explain, step by step, why a received message passes or fails authentication."""
    try:
        with path.open("rb") as f:
            message = f.read(MAX_MESSAGE_BYTES + 1)
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(message) > MAX_MESSAGE_BYTES:
        raise fail(f"{path} is larger than {MAX_MESSAGE_BYTES} bytes")
    config = state.config
    resolver = Resolver.from_config(config.dns)
    try:
        result = asyncio.run(
            run_diagnosis(
                message, resolver, receiver=config.server.hostname, ip=ip, helo=helo,
                mail_from=mail_from,
            )
        )  # fmt: skip
    except ValueError as exc:  # a malformed --ip
        raise fail(str(exc)) from None
    if as_json:
        echo_json(result.as_dict())
    else:
        click.echo(render_text(result), nl=False)
    if not result.ok:
        raise SystemExit(1)
