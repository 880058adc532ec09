"""Benchmark 5: `callpop report` over a million stored journeys, SQLite and PostgreSQL.

The journeys are real ones (`bench.journey_data`): the engine walks 16 caller paths
through the sample dialplan (menus, an invalid key, silences, the operator key, hang-ups
at several depths, the account entry), and each stored journey is one of them with its
own call id, start time (spread over 30 days) and dialplan version (three hashes). They
are stored in bulk (`bench.journey_fill`: a million in 50 s on SQLite and 90 s on
PostgreSQL, where `JourneyStore.write` took ~12 minutes on SQLite) as the very rows
`JourneyStore.write` stores, statistics included (a test compares them), so the hourly
statistics the report reads are the ones a live site would have. The data is made once
and cached (a SQLite file renamed into place when complete, a PostgreSQL schema renamed
when complete); its generation is never timed.

What is timed is `build_report` (what `callpop report` runs: two grouped queries
over the statistics) on a fresh engine, with no filter, with `--since` (the last 7
days) and with `--version`; the text rendering is timed with the first.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.crm_data import PG_ADMIN_URL
from bench.journey_data import SEED, VERSIONS
from bench.journey_fill import fill
from bench.paths import BUSINESS_HOURS, DIALPLAN
from bench.report import Section, Table
from callpop.report.model import format_text
from callpop.report.query import ReportFilters, build_report
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from ivr.loader import load_dialplan

__all__ = ["run"]

REPEATS = 3


async def _fill(engine: AsyncEngine, size: int) -> None:
    await upgrade(engine)
    await fill(engine, size, saved_at=datetime.now(UTC))


def _sqlite_file(cache: Path, size: int) -> tuple[Path, Path | None]:
    """The cached file, and the partial file to fill when it is not there yet."""
    final = cache / f"journeys-sqlite-{size}-seed{SEED}.db"
    if final.exists():
        return final, None
    cache.mkdir(parents=True, exist_ok=True)
    partial = final.with_suffix(".partial")
    for leftover in cache.glob(partial.name + "*"):
        leftover.unlink()
    return final, partial


async def _sqlite(cache: Path, size: int) -> tuple[str, float]:
    final, partial = _sqlite_file(cache, size)
    if partial is None:
        return f"sqlite:///{final}", 0.0
    started = time.perf_counter()
    engine = create_engine(f"sqlite:///{partial}")
    try:
        await _fill(engine, size)
    finally:
        await engine.dispose()
    partial.rename(final)
    return f"sqlite:///{final}", time.perf_counter() - started


async def _postgres(url: str, size: int, prefix: str) -> tuple[str, float]:
    schema = f"{prefix}_{size}_seed{SEED}"
    admin = create_engine(url)
    try:
        async with admin.connect() as conn:
            rows = await conn.execute(text("SELECT schema_name FROM information_schema.schemata"))
            present = {row[0] for row in rows}
        if schema in present:
            return schema, 0.0
        started = time.perf_counter()
        partial = schema + "_partial"
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{partial}" CASCADE'))
            await conn.execute(text(f'CREATE SCHEMA "{partial}"'))
        engine = create_engine(url, search_path=partial)
        try:
            await _fill(engine, size)
            async with engine.connect() as conn:
                # The statistics the report reads, as a live site's autovacuum keeps
                # them (it may not have come by since the COPY): vacuumed, analysed.
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM (ANALYZE) journey_nodes, journey_outcomes"))
        finally:
            await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'ALTER SCHEMA "{partial}" RENAME TO "{schema}"'))
        return schema, time.perf_counter() - started
    finally:
        await admin.dispose()


async def _time(engine_of: Any, now: datetime) -> dict[str, Any]:
    cases = {
        "all": ReportFilters(),
        "since 7 days": ReportFilters(since=now - timedelta(days=7)),
        "one version": ReportFilters(version=VERSIONS[0]),
    }
    flows = load_dialplan(DIALPLAN).flows
    out: dict[str, Any] = {}
    for name, filters in cases.items():
        runs = []
        calls = 0
        for _ in range(REPEATS):
            engine = engine_of()  # a fresh engine: the first connection is part of the cost
            try:
                t0 = time.perf_counter()
                report = await build_report(engine, filters, flows)
                if name == "all":
                    format_text(report)
                runs.append(time.perf_counter() - t0)
                calls = report.calls
            finally:
                await engine.dispose()
        out[name] = {"calls": calls, "median_s": statistics.median(runs), "max_s": max(runs)}
    return out


def run(
    *,
    cache: Path,
    sizes: Sequence[int],
    pg_url: str = PG_ADMIN_URL,
    pg_prefix: str = "bench_journeys",
) -> Section:
    size = max(sizes)
    now = BUSINESS_HOURS
    data: dict[str, Any] = {"size": size, "repeats": REPEATS}
    rows: list[list[Any]] = []
    notes: list[str] = []
    url, made = asyncio.run(_sqlite(cache, size))
    data["sqlite"] = asyncio.run(_time(lambda: create_engine(url), now))
    data["sqlite_generated_s"] = made
    try:
        schema, pg_made = asyncio.run(_postgres(pg_url, size, pg_prefix))
    except (OSError, ConnectionError) as exc:
        notes.append(f"PostgreSQL at {pg_url} was not reachable ({exc}); its rows are missing.")
    else:
        data["postgres"] = asyncio.run(
            _time(lambda: create_engine(pg_url, search_path=schema), now)
        )
        data["postgres_generated_s"] = pg_made
    for db, name in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        for case, result in data.get(db, {}).items():
            rows.append(
                [
                    name,
                    f"{size:,}",
                    case,
                    f"{result['calls']:,}",
                    f"{result['median_s']:.3f}",
                    f"{result['max_s']:.3f}",
                    "yes" if result["max_s"] < 10 else "**no**",
                ]
            )
    generated = [
        f"{n} in {data[k]:.0f} s"
        for k, n in (("sqlite_generated_s", "SQLite"), ("postgres_generated_s", "PostgreSQL"))
        if data.get(k)
    ]
    notes.append(
        "Generated in this run (the rows JourneyStore.write stores, in bulk; not timed): "
        + ", ".join(generated)
        + "."
        if generated
        else "All journeys came from the cache; none was generated in this run."
    )
    return Section(
        key="journeys",
        title="5. Journey report over stored journeys",
        intro=(
            "`callpop report` (`build_report`: two grouped queries over the hourly statistics "
            "`JourneyStore.write` keeps) over a million real journeys of the sample dialplan, "
            f"{REPEATS} runs per row on a fresh engine."
        ),
        tables=[
            Table(
                "build_report, seconds",
                [
                    "database",
                    "journeys",
                    "filter",
                    "calls counted",
                    "median s",
                    "max s",
                    "under 10 s",
                ],
                rows,
            )
        ],
        data=data,
        notes=notes,
    )
