"""`callpop serve`: exit 1 with file:line:col on bad config or dialplan, or the busy port."""

from __future__ import annotations

import asyncio
import os

import click

from callpop.commands.common import user_errors
from callpop.config import load_config
from callpop.logs import setup_logging
from callpop.serve import serve


def run_loop(main: object) -> None:
    """uvloop when installed (the `fast` extra), else asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)  # type: ignore[arg-type]
    else:
        uvloop.run(main)  # type: ignore[arg-type]


@click.command("serve")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.pass_context
def command(ctx: click.Context, log_level: str) -> None:
    """Run the IVR drivers, the AMI listener and the agents' web app."""
    setup_logging(log_level)
    environ = dict(os.environ)
    with user_errors("serve"):
        config = load_config(ctx.obj["config_path"], environ)
        run_loop(serve(config, environ=environ))
