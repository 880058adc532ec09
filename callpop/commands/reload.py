"""`callpop reload`: the running `serve` takes the dialplan as it is now, or says why not.

It asks the instance of this config through its control socket (`reload.socket`); that
instance loads and lints `dialplan/`, swaps it in only if it has no errors, and tells
the other instances on the bus (docs/admin.md, "Reload"). Exit 0 when the version runs
(or already ran), 1 when it was refused (its findings printed, one a line, as `callpop
lint` prints them) or no instance answers.
"""

from __future__ import annotations

import asyncio
import sys

import click

from callpop.commands.common import load_or_exit
from callpop.control import ControlUnreachable, request


@click.command("reload")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Load, lint and swap in the dialplan of the running `callpop serve`."""
    config = load_or_exit(ctx, "reload")
    socket = config.reload.socket
    try:
        _, body = asyncio.run(request(socket, "POST", "/reload"))
    except ControlUnreachable as exc:
        click.echo(f"callpop reload: {exc}", err=True)
        sys.exit(1)
    running, previous = body["running"], body["previous"]
    if body["accepted"]:
        if body["unchanged"]:
            click.echo(f"version {running['hash']} is already running (nothing changed)")
        else:
            click.echo(
                f"version {running['hash']} is running (was {previous['hash']}); "
                "calls in progress finish on theirs"
            )
        return
    for line in body["findings"]:
        click.echo(line)
    count = len(body["findings"])
    click.echo(
        f"callpop reload: refused, {count} error{'s' if count != 1 else ''}; "
        f"version {running['hash']} keeps running",
        err=True,
    )
    sys.exit(1)
