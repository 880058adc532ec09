"""`callpop db upgrade`: migrate the configured database to the newest schema.

`serve` and `demo` do the same at start; this is for operators who migrate before
rolling out (PostgreSQL: all revisions in one transaction, all or nothing).
"""

from __future__ import annotations

import asyncio

import click
from sqlalchemy import make_url

from callpop.commands.common import load_or_exit
from crm_adapter.port import CrmError
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.errors import mapped_errors
from crm_adapter.sql.migrate import current_revision, upgrade

__all__ = ["command", "load_or_exit", "shown", "upgrade_database"]


def shown(url: str) -> str:
    """A database URL fit for a terminal: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the configured database"


async def upgrade_database(url: str) -> tuple[str | None, str | None]:
    """Migrate to head; the revisions before and after."""
    engine = create_engine(url)
    try:
        with mapped_errors(f"migrating {shown(url)}"):
            before = await current_revision(engine)
            await upgrade(engine)
            return before, await current_revision(engine)
    finally:
        await engine.dispose()


@click.group("db")
def command() -> None:
    """The database schema."""


@command.command("upgrade")
@click.pass_context
def upgrade_command(ctx: click.Context) -> None:
    """Run the migrations up to the newest revision."""
    url = load_or_exit(ctx, "db upgrade").database
    try:
        before, after = asyncio.run(upgrade_database(url))
    except CrmError as exc:
        click.echo(f"callpop db upgrade: {exc}", err=True)
        ctx.exit(1)
    if before == after:
        click.echo(f"{shown(url)}: already at revision {after}", err=True)
    else:
        click.echo(
            f"{shown(url)}: upgraded from {before or 'an empty database'} to {after}", err=True
        )
