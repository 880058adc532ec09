"""Benchmark 3: the CRM lookup by caller number, 10k to 1M customers, SQLite and PostgreSQL.

What is timed is exactly what the IVR's `identify` node costs: `SqlStore.find_by_phone`
with the number as a caller ID carries it (E.164, national, with the trunk's 1), which
normalises it, finds the customer ids in the phone index and loads each customer with
all their phones in one round trip. One lookup at a time, on a warm connection pool,
numbers drawn at random over the whole table (one in ten is nobody's number). The data
is made once and cached (`bench.crm_data`); its generation is never timed.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.crm_data import PG_ADMIN_URL, pg_schema, prepare_postgres, prepare_sqlite, sqlite_file
from bench.report import Section, Table
from bench.stats import summary_ms
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.store import SqlStore

__all__ = ["run"]

SEED = 1
WARMUP = 50


async def _sample_numbers(
    engine: AsyncEngine, size: int, count: int, rng: random.Random
) -> list[str]:
    """`count` caller IDs: nine in ten a customer's number in one of the forms a trunk
    sends, one in ten a number in exchange 555-1xx, which the demo data never uses."""
    wanted = count * 9 // 10
    ids = [rng.randint(1, size) for _ in range(wanted)]
    found: list[str] = []
    async with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join(str(i) for i in chunk)
            rows = await conn.execute(
                text(
                    f"SELECT e164 FROM customer_phones WHERE customer_id IN ({marks}) AND position = 0"
                )
            )
            found += [row[0] for row in rows]
    forms = []
    for index, e164 in enumerate(found):
        national = e164[2:]
        forms.append((e164, national, "1" + national)[index % 3])
    misses = [
        f"+1555{rng.randint(100, 199):03d}{rng.randint(0, 9999):04d}"
        for _ in range(count - len(forms))
    ]
    numbers = forms + misses
    rng.shuffle(numbers)
    return numbers


async def _measure(engine: AsyncEngine, size: int, lookups: int) -> dict[str, Any]:
    store = SqlStore(engine)
    rng = random.Random(size)
    numbers = await _sample_numbers(engine, size, lookups + WARMUP, rng)
    for number in numbers[:WARMUP]:
        await store.find_by_phone(number)
    took: list[float] = []
    hits = 0
    for number in numbers[WARMUP:]:
        started = time.perf_counter()
        found = await store.find_by_phone(number)
        took.append(time.perf_counter() - started)
        hits += bool(found)
    return {**summary_ms(took), "hits": hits, "mean_ms": sum(took) / len(took) * 1000}


async def _sqlite(
    cache: Path, sizes: Sequence[int], lookups: int
) -> tuple[dict[int, Any], dict[int, float]]:
    made = await prepare_sqlite(cache, sizes, SEED)
    results = {}
    for size in sizes:
        engine = create_engine(f"sqlite:///{sqlite_file(cache, size, SEED)}")
        try:
            results[size] = await _measure(engine, size, lookups)
        finally:
            await engine.dispose()
    return results, made


async def _postgres(
    url: str, sizes: Sequence[int], lookups: int, prefix: str
) -> tuple[dict[int, Any], dict[int, float]]:
    made = await prepare_postgres(url, sizes, SEED, prefix)
    results = {}
    for size in sizes:
        engine = create_engine(url, search_path=pg_schema(size, SEED, prefix))
        try:
            results[size] = await _measure(engine, size, lookups)
        finally:
            await engine.dispose()
    return results, made


def _rows(database: str, results: dict[int, Any], sizes: Sequence[int]) -> list[list[Any]]:
    base = results[sizes[0]]["p50_ms"]
    rows = []
    for size in sizes:
        r = results[size]
        rows.append(
            [
                database,
                f"{size:,}",
                f"{r['p50_ms']:.3f}",
                f"{r['p95_ms']:.3f}",
                f"{r['p99_ms']:.3f}",
                f"{r['max_ms']:.2f}",
                f"{r['p50_ms'] / base:.2f}x",
                f"{math.log(size) / math.log(sizes[0]):.2f}x",
                f"{r['hits']}/{r['n']}",
            ]
        )
    return rows


def run(
    *,
    cache: Path,
    sizes: Sequence[int],
    lookups: int,
    pg_url: str = PG_ADMIN_URL,
    pg_prefix: str = "bench_crm",
) -> Section:
    """Lookups at each size; the PostgreSQL data lives in schemas `{pg_prefix}_{size}_seed1`."""
    sizes = sorted(sizes)
    sqlite_results, sqlite_made = asyncio.run(_sqlite(cache, sizes, lookups))
    notes = []
    data: dict[str, Any] = {
        "sizes": list(sizes),
        "lookups": lookups,
        "sqlite": sqlite_results,
        "sqlite_generated_s": sqlite_made,
    }
    rows = _rows("SQLite", sqlite_results, sizes)
    try:
        pg_results, pg_made = asyncio.run(_postgres(pg_url, sizes, lookups, pg_prefix))
    except (OSError, ConnectionError) as exc:
        notes.append(f"PostgreSQL at {pg_url} was not reachable ({exc}); its rows are missing.")
    else:
        data.update(postgres=pg_results, postgres_generated_s=pg_made)
        rows += _rows("PostgreSQL", pg_results, sizes)
    generated = {
        **{f"SQLite {k:,}": v for k, v in sqlite_made.items() if v},
        **{f"PostgreSQL {k:,}": v for k, v in data.get("postgres_generated_s", {}).items() if v},
    }
    if generated:
        notes.append(
            "Generated in this run (not timed in the table): "
            + ", ".join(f"{k} in {v:.0f} s" for k, v in generated.items())
            + "."
        )
    else:
        notes.append(
            "All data came from the cache (bench/out/cache and the `bench_crm_*` "
            "PostgreSQL schemas); none was generated in this run."
        )
    table = Table(
        f"find_by_phone, {lookups:,} lookups per row, one at a time",
        [
            "database",
            "customers",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "p50 vs smallest",
            "log n vs smallest",
            "found",
        ],
        rows,
    )
    return Section(
        key="crm",
        title="3. CRM lookup by caller number",
        intro=(
            "`SqlStore.find_by_phone` (normalise the caller ID, phone index, the customer "
            "and all their phones in one round trip) on the demo data of `callpop init "
            "--demo` at each size; *log n vs smallest* is how a B-tree's cost would grow."
        ),
        tables=[table],
        data=data,
        notes=notes,
    )
