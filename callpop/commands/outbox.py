"""`callpop crm outbox`: the write-backs waiting for, refused by, or delivered to the
external CRM; `callpop crm outbox retry [--failed]` sends them again.

After an outage the waiting entries are retried on their own, with backoff; `retry`
makes them due at once. Entries the CRM refused (a 4xx: a changed token, a field it
no longer accepts) stay failed until an operator, having fixed the cause, runs
`retry --failed`. A running `callpop serve` picks requeued entries up within
`crm.outbox.poll_s`. Counts go to stdout; exit 0, or 1 when the database fails.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import click

from callpop.commands.common import load_or_exit, user_errors
from callpop.config import Config
from crm_adapter.outbox import Backlog, FailedEntry, Outbox
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade

__all__ = ["command"]

_SHOWN_FAILURES = 20


async def _status(config: Config) -> tuple[Backlog, list[FailedEntry]]:
    engine = create_engine(config.database)
    try:
        await upgrade(engine)
        outbox = Outbox(engine, config.crm.outbox)
        return await outbox.backlog(), await outbox.failures(_SHOWN_FAILURES)
    finally:
        await engine.dispose()


async def _requeue(config: Config, failed: bool) -> tuple[Backlog, int]:
    engine = create_engine(config.database)
    try:
        await upgrade(engine)
        outbox = Outbox(engine, config.crm.outbox)
        before = await outbox.backlog()
        return before, await outbox.requeue(failed=failed)
    finally:
        await engine.dispose()


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@click.group("outbox", invoke_without_command=True)
@click.pass_context
def command(ctx: click.Context) -> None:
    """Write-backs to the external CRM: how many wait, failed, went; the refused ones."""
    if ctx.invoked_subcommand is not None:
        return
    config = load_or_exit(ctx, "crm outbox")
    with user_errors("crm outbox"):
        backlog, failures = asyncio.run(_status(config))
    oldest = ""
    if backlog.oldest is not None:
        oldest = f" (oldest {_age(backlog.oldest_age_s(datetime.now(UTC)))})"
    click.echo(f"pending    {backlog.pending}{oldest}")
    click.echo(f"failed     {backlog.failed}")
    click.echo(f"delivered  {backlog.delivered}")
    if failures:
        more = f", the last {len(failures)}" if backlog.failed > len(failures) else ""
        click.echo(f"\nrefused by the CRM (newest first{more}):")
        for entry in failures:
            click.echo(
                f"  {entry.key}  {entry.operation}  {entry.failed_at:%Y-%m-%d %H:%M:%S}Z"
                f"  {entry.attempts} attempts  {entry.error}"
            )
        click.echo("\nonce the cause is fixed: callpop crm outbox retry --failed")


@command.command("retry")
@click.option("--failed", is_flag=True, help="also requeue the entries the CRM refused")
@click.pass_context
def retry_command(ctx: click.Context, failed: bool) -> None:
    """Make waiting write-backs due now; with --failed, requeue the refused ones too."""
    config = load_or_exit(ctx, "crm outbox retry")
    with user_errors("crm outbox retry"):
        before, requeued = asyncio.run(_requeue(config, failed))
    refused = f", {before.failed} of them refused before" if failed and before.failed else ""
    click.echo(
        f"{requeued} write-backs due now{refused}; a running callpop serve sends them "
        f"within {config.crm.outbox.poll_s:g} s"
    )
    if not failed and before.failed:
        click.echo(f"{before.failed} refused ones left as they are (add --failed to requeue them)")
