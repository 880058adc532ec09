"""Benchmark 5: `callpop report` over a million stored journeys, SQLite and PostgreSQL.

The journeys are real ones: the engine walks 16 caller paths through the sample
dialplan (menus, an invalid key, silences, the operator key, hang-ups at several
depths, the account entry), and each stored journey is one of them with its own call
id, start time (spread over 30 days) and dialplan version (three hashes). They are
written through `JourneyStore.write` in batches, exactly as `serve` writes them, so
the hourly statistics the report reads are the ones a live site would have. The data
is made once and cached (a SQLite file renamed into place when complete, a
PostgreSQL schema renamed when complete); its generation is never timed.

What is timed is `build_report` (what `callpop report` runs: two grouped queries
over the statistics) on a fresh engine, with no filter, with `--since` (the last 7
days) and with `--version`; the text rendering is timed with the first.
"""

from __future__ import annotations

import asyncio
import copy
import random
import statistics
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.crm_data import PG_ADMIN_URL
from bench.paths import BUSINESS_HOURS, DIALPLAN
from bench.report import Section, Table
from callpop.journeys import JourneyStore
from callpop.report.model import format_text
from callpop.report.query import ReportFilters, build_report
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from ivr.journey import Journey
from ivr.loader import load_dialplan
from ivr.simulator import FakeCrm, NoCrm, ScriptedKeys, parse_keys, simulate

__all__ = ["run"]

SEED = 7
BATCH = 2_000
VERSIONS = ("a1b2c3d4e5f6", "0badc0ffee00", "5eed5eed5eed")
DAYS = 30
# (keys, CRM finds the caller): where callers go, and where they give up.
PATHS: tuple[tuple[str, bool], ...] = (
    ("1 2", False),
    ("1 1 4000000002# 1", False),
    ("1 3", False),
    ("2", False),
    ("3 1", False),
    ("3 2", False),
    ("3 3", False),
    ("4 1", False),
    ("4 2", False),
    ("4 3 1", False),
    ("4 3 2", False),
    ("0", False),
    ("w w", False),
    ("9 1 2", False),
    ("h", False),
    ("1 h", False),
    ("", True),
)
REPEATS = 3


def _templates() -> list[Journey]:
    flows = load_dialplan(DIALPLAN).flows
    made = []
    for keys, known in PATHS:
        crm = FakeCrm(tier="vip") if known else NoCrm()
        sim = simulate(
            flows,
            caller="+15551230000",
            keys=ScriptedKeys(parse_keys(keys)),
            crm=crm,
            now=BUSINESS_HOURS,
        )
        made.append(sim.journey)
    return made


def _batches(size: int) -> Any:
    """Journeys to store, `BATCH` at a time: (journey, data) with the version set."""
    rng = random.Random(SEED)
    templates = _templates()
    start = BUSINESS_HOURS - timedelta(days=DAYS)
    for first in range(0, size, BATCH):
        batch = []
        for i in range(first, min(size, first + BATCH)):
            journey = copy.copy(rng.choice(templates))
            journey.call_id = f"bench-{i:07d}"
            started = start + timedelta(seconds=rng.randrange(DAYS * 86_400))
            journey.started_at = started.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            data = journey.to_dict()
            data["version"] = {
                "hash": VERSIONS[i % len(VERSIONS)],
                "loaded_at": "2026-11-01T00:00:00.000Z",
            }
            batch.append((journey, data))
        yield batch


async def _fill(engine: AsyncEngine, size: int) -> None:
    await upgrade(engine)
    store = JourneyStore(engine)
    for batch in _batches(size):
        await store.write(batch)


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
        "Generated in this run (through JourneyStore.write, not timed): "
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
