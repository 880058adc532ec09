"""`callpop demo`: callpop with demo data, a virtual PBX and a test phone, in one command.

A fresh `./demo.db` (deleted and made again: migrated, demo customers, cases, agents),
`serve`'s runtime and web app, the FastAGI server, the AMI simulator and the virtual
PBX, the test phone page. Prints the URLs and the demo logins; runs until Ctrl-C or
SIGTERM. Exit 1 with a clear message on a bad config or dialplan, or a busy port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from datetime import datetime
from pathlib import Path

import click

from callpop.commands.common import load_or_exit, user_errors
from callpop.commands.serve import run_loop
from callpop.config import Config, HostPort
from callpop.demo.compose import DemoOptions, DemoServer, DemoUrls
from callpop.demo.context import known_callers
from callpop.logs import setup_logging
from crm_adapter.demo import DEMO_AGENTS, MAX_DEMO_CUSTOMERS, DemoReport

__all__ = ["banner", "command"]


def _at(value: str | None) -> tuple[datetime | None, bool]:
    if value is None:
        return None, False
    if value.strip().lower() == "now":
        return None, True
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time such as 2026-11-24T10:30:00-05:00, nor 'now'"
        ) from None
    if parsed.tzinfo is None:
        raise click.BadParameter("give the time zone too, e.g. 2026-11-24T10:30:00-05:00")
    return parsed, False


def banner(urls: DemoUrls, report: DemoReport, database: Path, clock_reason: str, seed: int) -> str:
    """What `callpop demo` prints once everything listens."""
    agents = [a for a in DEMO_AGENTS if a.role == "agent"]
    supervisors = [a for a in DEMO_AGENTS if a.role != "agent"]
    logins = "  or  ".join(f"{a.name} / {a.password}" for a in agents)
    boss = "  or  ".join(f"{a.name} / {a.password}" for a in supervisors)
    first, second = known_callers(seed, 2)
    return "\n".join(
        [
            "",
            "callpop demo is running. Ctrl-C stops it.",
            "",
            f"  Agent desk   {urls.agent:<42} log in as {logins}",
            f"  Test phone   {urls.phone:<42} call the IVR as a demo customer",
            f"  Wallboard    {urls.supervisor:<42} log in as {boss}",
            "",
            f"  Database     {database} (made fresh at each start: {report.customers} demo "
            f"customers, {report.cases} cases, {report.agents} agents)",
            f"  FastAGI      {urls.fastagi} (the IVR, as Asterisk reaches it)",
            f"  AMI          {urls.ami} (the virtual PBX's manager interface; callpop listens)",
            f"  IVR clock    {clock_reason}",
            "",
            "  Try it: log in at the agent desk as alice, keep it open beside the test phone,",
            f"  call as {second.name} and press 1 then 2 on the dial pad: the call queues for",
            f"  billing and alice's desk pops. {first.name} is a VIP and skips the menus.",
            "",
        ]
    )


async def _run(config: Config, options: DemoOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    click.echo(
        f"callpop demo: making {options.database} with {options.customers} demo customers...",
        err=True,
    )
    async with DemoServer(config, options, environ=dict(os.environ)) as demo:
        assert demo.urls is not None and demo.report is not None and demo.clock is not None
        click.echo(
            banner(demo.urls, demo.report, options.database, demo.clock.reason, options.seed)
        )
        await stop.wait()
        click.echo("callpop demo: stopping (calls are hung up)...", err=True)


@click.command("demo")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="web port (agent desk, wallboard, test phone)",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="web address; the demo has no TLS, keep it on localhost",
)
@click.option(
    "--fastagi-port",
    type=click.IntRange(0, 65535),
    default=4573,
    show_default=True,
    help="FastAGI port the virtual PBX calls",
)
@click.option(
    "--database",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("demo.db"),
    show_default=True,
    help="SQLite file, DELETED and made again at each start",
)
@click.option(
    "--customers",
    type=click.IntRange(2, MAX_DEMO_CUSTOMERS),
    default=1000,
    show_default=True,
    help="how many demo customers",
)
@click.option("--seed", type=int, default=1, show_default=True, help="the demo data's seed")
@click.option(
    "--at",
    "at",
    default=None,
    metavar="ISO8601|now",
    help="the IVR's clock: 'now' for the real time, or a start time "
    "(default: the real time if the office is open, else its next opening)",
)
@click.option(
    "--pace",
    type=click.FloatRange(0.05, 4.0),
    default=1.0,
    show_default=True,
    help="prompt length factor (1.0: a voice talent's pace)",
)
@click.option(
    "--sounds",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="recordings the test phone plays (LANG/NAME.wav, e.g. from "
    "`callpop prompts render dialplan/ -o DIR`)",
)
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.pass_context
def command(
    ctx: click.Context,
    port: int,
    host: str,
    fastagi_port: int,
    database: Path,
    customers: int,
    seed: int,
    at: str | None,
    pace: float,
    sounds: Path | None,
    log_level: str,
) -> None:
    """Try callpop with no Asterisk: demo data, a virtual PBX and a test phone."""
    setup_logging(log_level)
    start, real = _at(at)
    config = load_or_exit(ctx, "demo")
    options = DemoOptions(
        web=HostPort(host, port),
        fastagi=HostPort("127.0.0.1", fastagi_port),
        database=database,
        customers=customers,
        seed=seed,
        at=start,
        real_clock=real,
        pace=pace,
        sounds=sounds,
    )
    with user_errors("demo"):
        run_loop(_run(config, options))
