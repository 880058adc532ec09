"""`callpop crm import FILE.csv`: customers from a spreadsheet into the built-in CRM;
`callpop crm pin CUSTOMER_ID`: a customer's PIN for the flows' `pin` nodes.

Rejected rows go to stdout as `FILE:LINE: reason`, one a line, in line order (the
format editors and CI jump to); the progress bar and the summary go to stderr. Exit
1 if any row was rejected or the file cannot be imported at all; importing the same
file again changes nothing.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from callpop.commands import outbox as outbox_cmd
from callpop.commands.common import load_or_exit
from crm_adapter.importer import ImportFileError, ImportReport, import_customers
from crm_adapter.phone import PhoneNormaliser
from crm_adapter.port import CrmError, NotFound
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade

__all__ = ["command", "run_import"]


async def run_import(
    url: str, path: Path, phone: PhoneNormaliser, progress: Progress | None, size: int
) -> ImportReport:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        task = None
        if progress is not None:
            task = progress.add_task("importing", total=size)

        def advance(n: int) -> None:
            if progress is not None and task is not None:
                progress.advance(task, n)

        return await import_customers(engine, path, phone, progress=advance)
    finally:
        await engine.dispose()


@click.group("crm")
def command() -> None:
    """The built-in CRM's data, and write-backs to an external CRM."""


command.add_command(outbox_cmd.command)


@command.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def import_command(ctx: click.Context, file: Path) -> None:
    """Import customers from FILE (CSV with a header row: name, phone required;
    account, tier, language, email, external_id optional)."""
    config = load_or_exit(ctx, "crm import")
    console = Console(stderr=True)
    try:
        size = file.stat().st_size
    except OSError as exc:
        click.echo(f"{file}:1: cannot read: {exc.strerror or exc}", err=True)
        ctx.exit(1)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )
    try:
        with progress:
            report = asyncio.run(
                run_import(config.database, file, config.phone.normaliser(), progress, size)
            )
    except ImportFileError as exc:
        click.echo(str(exc), err=True)
        ctx.exit(1)
    except (CrmError, OSError) as exc:
        click.echo(f"callpop crm import: {exc}", err=True)
        ctx.exit(1)
    for rejection in sorted(report.rejected, key=lambda r: r.line):
        click.echo(f"{file}:{rejection.line}: {rejection.reason}")
    superseded = f", {report.superseded} superseded by a later row" if report.superseded else ""
    click.echo(
        f"{file}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged{superseded}, {len(report.rejected)} rejected",
        err=True,
    )
    if report.rejected:
        ctx.exit(1)


async def _set_pin(url: str, customer_id: str, pin: str) -> None:
    from crm_adapter.sql.store import SqlStore

    engine = create_engine(url)
    store = SqlStore(engine)
    try:
        await upgrade(engine)
        await store.set_pin(customer_id, pin)
    finally:
        await store.aclose()
        await engine.dispose()


@command.command("pin")
@click.argument("customer_id")
@click.pass_context
def pin_command(ctx: click.Context, customer_id: str) -> None:
    """Set CUSTOMER_ID's PIN (4 to 12 digits), asked twice without echo, or read from
    stdin's first line when stdin is not a terminal. It is stored as an argon2id hash
    and clears the customer's count of wrong PINs and any lock."""
    config = load_or_exit(ctx, "crm pin")
    if config.crm.adapter != "sql":
        click.echo("callpop crm pin: the REST CRM keeps its own PINs", err=True)
        ctx.exit(1)
    stdin = sys.stdin
    if stdin.isatty():
        pin = click.prompt("PIN", hide_input=True, confirmation_prompt=True, err=True)
    else:
        pin = stdin.readline().strip()
    try:
        asyncio.run(_set_pin(config.database, customer_id, pin))
    except ValueError as exc:  # never repeats the PIN
        click.echo(f"callpop crm pin: {exc}", err=True)
        ctx.exit(1)
    except NotFound:
        click.echo(f"callpop crm pin: no customer {customer_id!r}", err=True)
        ctx.exit(1)
    except (CrmError, OSError) as exc:
        click.echo(f"callpop crm pin: {exc}", err=True)
        ctx.exit(1)
    click.echo(f"customer {customer_id}: PIN set", err=True)
