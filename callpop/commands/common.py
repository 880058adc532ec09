"""What every command does with a user's mistake: say where it is, exit 1."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from callpop.config import Config, ConfigError, load_config
from callpop.serve import CannotListen
from crm_adapter.port import CrmError
from ivr.ari.errors import AriUnauthorized
from ivr.loader import LoadError

__all__ = ["load_or_exit", "user_errors"]


def load_or_exit(ctx: click.Context, command_name: str) -> Config:
    """The configuration, or exit 1 with its error (FILE:LINE:COL: message)."""
    config_path: Path | None = (ctx.obj or {}).get("config_path")
    with user_errors(command_name):
        return load_config(config_path)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def user_errors(command_name: str) -> Iterator[None]:
    """Bad config or dialplan, a busy port, refused credentials, an unusable database:
    one clear message (with its position when there is one) and exit 1, no traceback."""
    try:
        yield
    except LoadError as exc:
        for finding in exc.findings:
            click.echo(finding.format(), err=True)
        click.echo(f"callpop {command_name}: the dialplan has errors (run callpop lint)", err=True)
        sys.exit(1)
    except (ConfigError, CannotListen, AriUnauthorized, CrmError) as exc:
        click.echo(f"callpop {command_name}: {exc}", err=True)
        sys.exit(1)
