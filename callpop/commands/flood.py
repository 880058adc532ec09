"""`callpop flood on --message NAME` / `off` / `status`: the flood switch every instance
sees (callpop/flood.py). Exit 0, 1 when the database fails, 2 on a bad message name."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from callpop.commands.common import load_or_exit, user_errors
from callpop.config import Config
from callpop.flood import FloodState, FloodStore, check_message
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from ivr.flow import FloodNode
from ivr.lint import check_dialplan
from ivr.loader import DialplanError

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
    _check_flows_say(message, Path(config.dialplan))
    with user_errors("flood on"):
        _show(asyncio.run(_run(config, (True, message))))


def _check_flows_say(message: str, folder: Path) -> None:
    """Refuse a message no flood node of the dialplan can say (its callers would hear
    nothing about it): one line, exit 1, the switch untouched. A dialplan that cannot be
    read here, or has no flood node yet, is only warned about."""
    try:
        flows = check_dialplan(folder).flows
    except (DialplanError, OSError) as exc:
        click.echo(
            f"callpop flood on: warning: could not check the message against {folder}: {exc}",
            err=True,
        )
        return
    known = sorted(
        {
            m
            for flow in flows.values()
            for node in flow.nodes.values()
            if isinstance(node, FloodNode)
            for m in node.messages
        }
    )
    if not known:
        click.echo(
            f"callpop flood on: warning: no flow of {folder} has a flood node: callers will not hear {message}",
            err=True,
        )
        return
    if message not in known:
        click.echo(
            f"callpop flood on: no flood node of {folder} has a message {message!r} "
            f"(they have: {', '.join(known)}); add its prompts to the flood nodes first",
            err=True,
        )
        sys.exit(1)


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
