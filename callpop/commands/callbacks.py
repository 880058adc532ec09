"""`callpop callbacks [--all]` lists the callbacks callers asked for; `callpop callbacks
cancel ID` takes back one still pending (docs/admin.md, "Callbacks"). Exit 0, 1 when
the database fails or the callback is not pending, 2 on a usage error."""

from __future__ import annotations

import asyncio

import click

from callpop.callbacks.store import FINAL, Callback, CallbackStore
from callpop.commands.common import load_or_exit, user_errors
from callpop.config import Config
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade

__all__ = ["command"]


async def _listing(config: Config, everything: bool) -> list[Callback]:
    engine = create_engine(config.database)
    try:
        await upgrade(engine)
        rows = await CallbackStore(engine).listing()
    finally:
        await engine.dispose()
    return rows if everything else [r for r in rows if r.state not in FINAL]


async def _cancel(config: Config, callback_id: int) -> Callback | None:
    engine = create_engine(config.database)
    try:
        await upgrade(engine)
        store = CallbackStore(engine)
        if await store.cancel(callback_id):
            return None
        return await store.get(callback_id) or _missing(callback_id)
    finally:
        await engine.dispose()


def _missing(callback_id: int) -> Callback:
    raise click.ClickException(f"callbacks cancel: no callback {callback_id}")


def _line(row: Callback) -> str:
    waited = f"{row.waited_s // 60} min" if row.waited_s >= 60 else f"{row.waited_s} s"
    agent = f" agent {row.interface}" if row.interface else ""
    result = f" ({row.result})" if row.result and row.result != row.state else ""
    return (
        f"{row.id:>5}  {row.state:<9} {row.queue:<12} {row.number:<16} "
        f"asked {row.requested_at:%Y-%m-%d %H:%M}Z after {waited}, "
        f"{row.attempts} call(s){agent}{result}"
    )


@click.group("callbacks", invoke_without_command=True)
@click.option("--all", "everything", is_flag=True, help="also those connected, failed, cancelled")
@click.pass_context
def command(ctx: click.Context, everything: bool) -> None:
    """Callbacks waiting or being placed (with --all: every one), in request order."""
    if ctx.invoked_subcommand is not None:
        return
    config = load_or_exit(ctx, "callbacks")
    with user_errors("callbacks"):
        rows = asyncio.run(_listing(config, everything))
    if not rows:
        click.echo("no callbacks" if everything else "no callbacks waiting")
    for row in rows:
        click.echo(_line(row))


@command.command("cancel")
@click.argument("callback_id", type=click.IntRange(min=1))
@click.pass_context
def cancel(ctx: click.Context, callback_id: int) -> None:
    """Take back a pending callback (one being placed finishes its call first)."""
    config = load_or_exit(ctx, "callbacks cancel")
    with user_errors("callbacks cancel"):
        left = asyncio.run(_cancel(config, callback_id))
    if left is not None:
        raise click.ClickException(
            f"callbacks cancel: callback {callback_id} is {left.state}, not pending"
        )
    click.echo(f"callback {callback_id} cancelled")
