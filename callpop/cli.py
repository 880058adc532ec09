"""The `callpop` command line: the composition root's front door.

Each command lives in `callpop/commands/NAME.py`, parses its arguments, calls a
plain function and maps the result to an exit code: 0 ok, 1 a user error or a
failed check, 2 bad usage (click's own code for usage errors).
"""

from __future__ import annotations

from pathlib import Path

import click

from callpop.commands import agents as agents_cmd
from callpop.commands import asterisk_config as asterisk_config_cmd
from callpop.commands import crm as crm_cmd
from callpop.commands import db as db_cmd
from callpop.commands import demo as demo_cmd
from callpop.commands import diff as diff_cmd
from callpop.commands import graph as graph_cmd
from callpop.commands import init as init_cmd
from callpop.commands import lint as lint_cmd
from callpop.commands import serve as serve_cmd
from callpop.commands import simulate as simulate_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="callpop.yaml (default: $CALLPOP_CONFIG, ./callpop.yaml, /etc/callpop/callpop.yaml)",
)
@click.version_option(package_name="callpop")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """callpop: Asterisk IVR and CRM screen-pop."""
    ctx.obj = {"config_path": config_path}


cli.add_command(lint_cmd.command)
cli.add_command(asterisk_config_cmd.command)
cli.add_command(agents_cmd.command)
cli.add_command(simulate_cmd.command)
cli.add_command(graph_cmd.command)
cli.add_command(serve_cmd.command)
cli.add_command(db_cmd.command)
cli.add_command(crm_cmd.command)
cli.add_command(init_cmd.command)
cli.add_command(demo_cmd.command)
cli.add_command(diff_cmd.command)


def main() -> None:
    cli(prog_name="callpop")
