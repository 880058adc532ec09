"""`callpop lint PATH...` (written by the lint work)."""

from __future__ import annotations

import click


@click.command("lint")
@click.argument("paths", nargs=-1, required=True)
def command(paths: tuple[str, ...]) -> None:
    """Check flow files and the rest of dialplan/."""
    raise click.ClickException("lint is being built")
