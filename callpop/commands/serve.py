"""`callpop serve`: exit 1 with file:line:col on bad config or dialplan, or the busy port."""

from __future__ import annotations

import asyncio
import os
import sys

import click

from callpop.config import ConfigError, load_config
from callpop.logs import setup_logging
from callpop.serve import PortBusy, serve
from ivr.ari.errors import AriUnauthorized
from ivr.loader import LoadError


def run_loop(main: object) -> None:
    """uvloop when installed (the `fast` extra), else asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)  # type: ignore[arg-type]
    else:
        uvloop.run(main)  # type: ignore[arg-type]


@click.command("serve")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.pass_context
def command(ctx: click.Context, log_level: str) -> None:
    """Run the IVR drivers, the AMI listener and the agents' web app."""
    setup_logging(log_level)
    environ = dict(os.environ)
    try:
        config = load_config(ctx.obj["config_path"], environ)
        run_loop(serve(config, environ=environ))
    except ConfigError as exc:
        click.echo(f"callpop serve: {exc}", err=True)
        sys.exit(1)
    except LoadError as exc:
        for finding in exc.findings:
            click.echo(finding.format(), err=True)
        click.echo("callpop serve: the dialplan has errors (run callpop lint)", err=True)
        sys.exit(1)
    except AriUnauthorized as exc:
        click.echo(f"callpop serve: {exc}", err=True)
        sys.exit(1)
    except PortBusy as exc:
        click.echo(f"callpop serve: {exc}", err=True)
        sys.exit(1)
