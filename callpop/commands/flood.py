"""`callpop flood on --message NAME` / `off` / `status`: the flood switch every instance
sees (callpop/flood.py). Exit 0, 1 when the database fails, 2 on a bad message name."""

from __future__ import annotations

import asyncio

import click

from callpop.commands.common import load_or_exit, user_errors
from callpop.config import Config
from callpop.flood import FloodState, FloodStore, check_message
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade

__all__ = ["command"]


async def _run(config: Config, change: tuple[bool, str] | None) -> FloodState:
    engine = create_engine(config.database)
    try:
        await upgrade(engine)
        store = FloodStore(engine)
        if change is not None:
            return await store.set(*change)
        return await store.get()
    finally:
        await engine.dispose()


def _show(state: FloodState) -> None:
    if state.active:
        click.echo(
            f"flood mode on, message {state.message} (since {state.changed_at:%Y-%m-%d %H:%M:%S}Z)"
        )
    elif state.changed_at is not None:
        click.echo(f"flood mode off (since {state.changed_at:%Y-%m-%d %H:%M:%S}Z)")
    else:
        click.echo("flood mode off")


@click.group("flood")
def command() -> None:
    """The flood switch: flows play a known-cause message first and offer self-service."""


@command.command("on")
@click.option("--message", required=True, help="the message to play first, e.g. known-outage")
@click.pass_context
def flood_on(ctx: click.Context, message: str) -> None:
    """Switch flood mode on, for every instance."""
    try:
        check_message(message)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--message") from None
    config = load_or_exit(ctx, "flood on")
    with user_errors("flood on"):
        _show(asyncio.run(_run(config, (True, message))))


@command.command("off")
@click.pass_context
def flood_off(ctx: click.Context) -> None:
    """Switch flood mode off, for every instance."""
    config = load_or_exit(ctx, "flood off")
    with user_errors("flood off"):
        _show(asyncio.run(_run(config, (False, ""))))


@command.command("status")
@click.pass_context
def flood_status(ctx: click.Context) -> None:
    """Whether flood mode is on, and its message."""
    config = load_or_exit(ctx, "flood status")
    with user_errors("flood status"):
        _show(asyncio.run(_run(config, None)))
