"""The CRM benchmark's data: demo customers at 10k, 100k and 1M, made once and kept.

Generation is never timed and never repeated: a size is made by the project's own
`crm_adapter.demo.seed_demo` (COPY on PostgreSQL) into a place that only becomes the
cache once complete (a temporary SQLite file renamed, a temporary PostgreSQL schema
renamed), so an interrupted run leaves nothing half made behind. Demo row `i` is the
same whatever the size, so a SQLite size is grown from a copy of the next smaller one.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.demo import seed_demo
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade

__all__ = ["PG_ADMIN_URL", "pg_schema", "prepare_postgres", "prepare_sqlite", "sqlite_file"]

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def sqlite_file(cache: Path, size: int, seed: int) -> Path:
    return cache / f"crm-sqlite-{size}-seed{seed}.db"


def pg_schema(size: int, seed: int, prefix: str = "bench_crm") -> str:
    return f"{prefix}_{size}_seed{seed}"


async def _seed(engine: AsyncEngine, size: int, seed: int) -> None:
    await upgrade(engine)
    await seed_demo(engine, customers_wanted=size, seed=seed, batch=20_000)


def _cached(cache: Path, final: Path) -> bool:
    cache.mkdir(parents=True, exist_ok=True)
    return final.exists()


def _start_partial(final: Path, previous: Path | None) -> Path:
    """A fresh `.partial` file to fill: empty, or a copy of the next smaller size."""
    partial = final.with_suffix(".partial")
    for leftover in final.parent.glob(partial.name + "*"):
        leftover.unlink()
    if previous is not None:
        shutil.copyfile(previous, partial)
    return partial


def _finish_partial(partial: Path, final: Path) -> None:
    # The last connection closed has checkpointed the WAL into the file.
    if Path(f"{partial}-wal").exists():
        raise RuntimeError(f"{partial}: the WAL was not checkpointed")
    Path(f"{partial}-shm").unlink(missing_ok=True)
    partial.rename(final)


async def prepare_sqlite(cache: Path, sizes: Sequence[int], seed: int) -> dict[int, float]:
    """Make the SQLite file of every size not cached yet; returns the seconds each
    generation took (0 for a cached size)."""
    took: dict[int, float] = {}
    previous: Path | None = None
    for size in sorted(sizes):
        final = sqlite_file(cache, size, seed)
        if _cached(cache, final):
            took[size] = 0.0
            previous = final
            continue
        started = time.perf_counter()
        partial = _start_partial(final, previous)
        engine = create_engine(f"sqlite:///{partial}")
        try:
            await _seed(engine, size, seed)
            async with engine.begin() as conn:
                await conn.exec_driver_sql("ANALYZE")
        finally:
            await engine.dispose()
        _finish_partial(partial, final)
        took[size] = time.perf_counter() - started
        previous = final
    return took


async def _schemas(admin: AsyncEngine) -> set[str]:
    async with admin.connect() as conn:
        rows = await conn.execute(text("SELECT schema_name FROM information_schema.schemata"))
        return {row[0] for row in rows}


async def prepare_postgres(
    url: str, sizes: Sequence[int], seed: int, prefix: str = "bench_crm"
) -> dict[int, float]:
    """Make the PostgreSQL schema of every size not cached yet (each its own schema,
    kept between runs); returns the seconds each generation took."""
    admin = create_engine(url)
    took: dict[int, float] = {}
    try:
        present = await _schemas(admin)
        for size in sorted(sizes):
            final = pg_schema(size, seed, prefix)
            if final in present:
                took[size] = 0.0
                continue
            started = time.perf_counter()
            partial = final + "_partial"
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{partial}" CASCADE'))
                await conn.execute(text(f'CREATE SCHEMA "{partial}"'))
            engine = create_engine(url, search_path=partial)
            try:
                await _seed(engine, size, seed)
                async with engine.begin() as conn:
                    # Planner statistics now: autovacuum may not have run since the COPY.
                    await conn.execute(text("ANALYZE customers, customer_phones, cases"))
            finally:
                await engine.dispose()
            async with admin.begin() as conn:
                await conn.execute(text(f'ALTER SCHEMA "{partial}" RENAME TO "{final}"'))
            took[size] = time.perf_counter() - started
        return took
    finally:
        await admin.dispose()
