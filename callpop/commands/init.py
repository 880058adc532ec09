"""`callpop init [--demo [--customers N] [--seed S]]`: a migrated database, with demo
customers, cases and agents if asked. Deterministic: the same seed gives the same
data, and running it again adds only what is missing."""

from __future__ import annotations

import asyncio

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from callpop.commands.common import load_or_exit
from callpop.commands.db import shown
from crm_adapter.demo import DEMO_AGENTS, MAX_DEMO_CUSTOMERS, DemoReport, seed_demo
from crm_adapter.port import CrmError
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.errors import mapped_errors
from crm_adapter.sql.migrate import upgrade

__all__ = ["command", "init_database"]


async def init_database(
    url: str, *, demo: bool, customers: int, seed: int, progress: Progress | None = None
) -> DemoReport | None:
    engine = create_engine(url)
    try:
        with mapped_errors(f"initialising {shown(url)}"):
            await upgrade(engine)
        if not demo:
            return None
        task = progress.add_task("demo customers", total=customers) if progress else None

        def advance(n: int) -> None:
            if progress is not None and task is not None:
                progress.advance(task, n)

        return await seed_demo(engine, customers_wanted=customers, seed=seed, progress=advance)
    finally:
        await engine.dispose()


@click.command("init")
@click.option("--demo", is_flag=True, help="add demo customers, cases and agents")
@click.option(
    "--customers",
    type=click.IntRange(0, MAX_DEMO_CUSTOMERS),
    default=1000,
    show_default=True,
    help="how many demo customers (with --demo)",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="the demo data's seed: the same seed gives the same data",
)
@click.pass_context
def command(ctx: click.Context, demo: bool, customers: int, seed: int) -> None:
    """Migrate the configured database, and fill it with demo data."""
    url = load_or_exit(ctx, "init").database
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )
    try:
        with progress:
            report = asyncio.run(
                init_database(url, demo=demo, customers=customers, seed=seed, progress=progress)
            )
    except CrmError as exc:
        click.echo(f"callpop init: {exc}", err=True)
        ctx.exit(1)
    if report is None:
        click.echo(f"{shown(url)}: migrated", err=True)
        return
    click.echo(
        f"{shown(url)}: {report.customers} demo customers added ({report.already} were there), "
        f"{report.cases} cases, {report.agents} agents",
        err=True,
    )
    if report.agents:
        logins = ", ".join(f"{a.name}/{a.password} ({a.role}, {a.interface})" for a in DEMO_AGENTS)
        click.echo(f"demo logins: {logins}", err=True)
