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
from callpop.commands import callbacks as callbacks_cmd
from callpop.commands import crm as crm_cmd
from callpop.commands import db as db_cmd
from callpop.commands import demo as demo_cmd
from callpop.commands import diff as diff_cmd
from callpop.commands import doc as doc_cmd
from callpop.commands import flood as flood_cmd
from callpop.commands import graph as graph_cmd
from callpop.commands import init as init_cmd
from callpop.commands import lint as lint_cmd
from callpop.commands import prompts as prompts_cmd
from callpop.commands import reload as reload_cmd
from callpop.commands import report as report_cmd
from callpop.commands import serve as serve_cmd
from callpop.commands import simulate as simulate_cmd


def _take_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        # The group's object (shared by every context below it), where every command
        # reads its config path from.
        ctx.find_root().ensure_object(dict)["config_path"] = value


def _accept_config_after(command: click.Command) -> None:
    """`callpop serve --config F` as well as `callpop --config F serve`: every command
    (and sub-command) takes the option too, unless it has its own."""
    if not any(isinstance(p, click.Option) and "--config" in p.opts for p in command.params):
        command.params.append(
            click.Option(
                ["--config", "config_path_after"],
                type=click.Path(dir_okay=False, path_type=Path),
                expose_value=False,
                callback=_take_config,
                help="callpop.yaml (as the global --config)",
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_config_after(sub)


class _Commands(click.Group):
    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        _accept_config_after(cmd)
        super().add_command(cmd, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
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
cli.add_command(prompts_cmd.command)
cli.add_command(diff_cmd.command)
cli.add_command(doc_cmd.command)
cli.add_command(report_cmd.command)
cli.add_command(reload_cmd.command)
cli.add_command(flood_cmd.command)
cli.add_command(callbacks_cmd.command)


def main() -> None:
    cli(prog_name="callpop")
