"""`callpop report [--since WHEN] [--flow F] [--version HASH] [--format text|json|svg] [-o FILE]`

What callers did in the IVR, from the journeys stored in the configured database:
per node, its visits (entries), how they ended (keys, operator, hang-ups, give-ups),
timeouts and invalid keys, and the time spent there; per intent (topic), where the
calls went and how long they took to get there. `svg` draws the flow (`--flow`,
default `main`) with each node coloured by its drop-off (the share of visits where
the caller hung up), for the redesign meeting.

`--since` takes an ISO 8601 date or time (`2026-12-01`, `2026-12-01T08:00Z`) or an
age (`30m`, `24h`, `7d`). Exit 0 with the report (also when no journey matches), 1
for a bad configuration, a database that cannot be read or a dialplan that does not
load, 2 for bad usage.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from callpop.commands.common import load_or_exit
from callpop.report.heatmap import render_heatmap
from callpop.report.model import JourneyReport, format_text
from callpop.report.query import ReportFilters, build_report
from crm_adapter.sql.engine import create_engine
from ivr.flow import ENTRY_FLOW, Flow
from ivr.loader import read_dialplan

_AGE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """`--since` as an aware UTC time; raises click.BadParameter with the accepted forms."""
    if value is None:
        return None
    text = value.strip()
    age = _AGE.match(text)
    if age:
        return now - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: write a date or time (2026-12-01, 2026-12-01T08:00Z) or an age (30m, 24h, 7d)",
            param_hint="--since",
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


async def _report(
    database: str, filters: ReportFilters, flows: dict[str, Flow] | None
) -> JourneyReport:
    engine = create_engine(database)
    try:
        return await build_report(engine, filters, flows)
    finally:
        await engine.dispose()


@click.command("report")
@click.option(
    "--since", default=None, help="journeys from then on: 2026-12-01, 2026-12-01T08:00Z, 24h, 7d"
)
@click.option(
    "--flow", default=None, help="calls that entered this flow (and the flow drawn by svg)"
)
@click.option(
    "--version", "version", default=None, help="calls that ran on this dialplan version hash"
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "svg"]),
    default=None,
    help="text (default), json or svg (the heat-map); without it, from the -o file's extension",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="write to this file instead of stdout",
)
@click.option(
    "--dialplan",
    "dialplan_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the dialplan, for node order and the diagram (default: the configured one)",
)
@click.pass_context
def command(
    ctx: click.Context,
    since: str | None,
    flow: str | None,
    version: str | None,
    fmt: str | None,
    output: Path | None,
    dialplan_dir: Path | None,
) -> None:
    """Summarise the stored journeys: per node and per intent, text, JSON or a heat-map."""
    if fmt is None:
        suffix = output.suffix.lower() if output is not None else ""
        fmt = {".json": "json", ".svg": "svg"}.get(suffix, "text")
    filters = ReportFilters(parse_since(since, datetime.now(UTC)), flow, version)
    config = load_or_exit(ctx, "report")
    folder = dialplan_dir or config.dialplan
    dialplan, findings = read_dialplan(folder)
    flows = dict(dialplan.flows)
    drawn = flow or ENTRY_FLOW
    if fmt == "svg":
        if drawn not in flows:
            for finding in findings:
                click.echo(finding.format(), err=True)
            raise click.ClickException(
                f"no flow {drawn!r} to draw in {folder} (--dialplan, --flow)"
            )
    try:
        report = asyncio.run(_report(config.database, filters, flows or None))
    except (SQLAlchemyError, OSError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        message = (str(cause).splitlines() or [type(cause).__name__])[0]
        hint = (
            " (run callpop db upgrade)"
            if "no such table" in message or "does not exist" in message
            else ""
        )
        raise click.ClickException(f"cannot read the journeys: {message}{hint}") from None
    if fmt == "json":
        text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    elif fmt == "svg":
        text = render_heatmap(flows[drawn], report)
    else:
        text = "\n".join(format_text(report)) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{output}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"{output}: {fmt} report of {report.calls} calls", err=True)
