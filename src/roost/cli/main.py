"""`roost`: the admin CLI entry point (console script `roost = roost.cli.main:main`)."""

from __future__ import annotations

import click

from roost import __version__
from roost.cli.alias import alias
from roost.cli.config_cmd import config
from roost.cli.context import CliState, RoostGroup, pass_state
from roost.cli.diagnose import diagnose
from roost.cli.dkim import dkim
from roost.cli.dmarc import dmarc
from roost.cli.domain import domain
from roost.cli.init_cmd import init
from roost.cli.mailbox import mailbox
from roost.cli.queue import queue
from roost.cli.suppression import suppression
from roost.cli.tlsrpt import tlsrpt
from roost.cli.user import user


@click.group(cls=RoostGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="roost")
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    default=None,
    help="Config file (default: $ROOST_CONFIG, else ./var/roost.toml).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Roost mail server administration."""
    ctx.obj = CliState(explicit_config=config_path)


@cli.command()
@pass_state
def serve(state: CliState) -> None:
    """Run the mail server until SIGTERM or SIGINT."""
    from roost.app import serve as run_server  # heavy imports only when serving

    run_server(state.config)


for _command in (init, config, domain, user, alias, queue, mailbox, dkim, suppression):
    cli.add_command(_command)
cli.add_command(tlsrpt)
cli.add_command(dmarc)
cli.add_command(diagnose)


def main() -> None:
    cli(prog_name="roost")
