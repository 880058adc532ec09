"""`callpop crm import FILE.csv`: customers from a spreadsheet into the built-in CRM.

Rejected rows go to stdout as `FILE:LINE: reason`, one a line, in line order (the
format editors and CI jump to); the progress bar and the summary go to stderr. Exit
1 if any row was rejected or the file cannot be imported at all; importing the same
file again changes nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from callpop.commands import outbox as outbox_cmd
from callpop.commands.common import load_or_exit
from crm_adapter.importer import ImportFileError, ImportReport, import_customers
from crm_adapter.phone import PhoneNormaliser
from crm_adapter.port import CrmError
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
