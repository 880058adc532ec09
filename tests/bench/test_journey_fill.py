"""Benchmark 5's bulk fill stores exactly what `JourneyStore.write` stores.

The report benchmark times the product's queries over these rows, so they must be the
product's rows: the same calls written once through `JourneyStore.write` (in batches,
as `serve` writes them) and once by `bench.journey_fill.fill` leave every table the
report and the pop read with the same rows, value for value, as the database stores
them."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import pytest
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.journey_data import calls, entry, templates
from bench.journey_fill import fill
from callpop.journeys import JourneyStore
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.tables import calls as calls_table
from crm_adapter.sql.tables import journey_nodes, journey_outcomes, journeys

PG_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SAVED_AT = datetime(2026, 11, 23, 16, 0, 0, 123456, tzinfo=UTC)
CALLS = 2_000
TABLES = (calls_table, journeys, journey_nodes, journey_outcomes)


async def _written_by_the_store(engine: AsyncEngine, size: int) -> None:
    store = JourneyStore(engine, clock=lambda: SAVED_AT)
    paths = templates()
    upcoming = calls(size)
    while batch := list(islice(upcoming, 500)):
        await store.write([entry(paths[c.path], c) for c in batch])


async def _rows(engine: AsyncEngine, table: Table) -> list[tuple[object, ...]]:
    """Every row as the driver returns it (SQLite: the stored text itself)."""
    key = ", ".join(c.name for c in table.primary_key.columns)
    async with engine.connect() as conn:
        result = await conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY {key}")
        return [tuple(row) for row in result]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def two_databases(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two empty migrated databases of one kind: one for the store, one for the fill."""
    if request.param == "sqlite":
        engines = [create_engine(f"sqlite:///{tmp_path / name}") for name in ("a.db", "b.db")]
        schemas: list[str] = []
    else:
        schemas = [f"bench_fill_{uuid.uuid4().hex[:8]}_{n}" for n in ("a", "b")]
        admin = create_engine(PG_URL)
        try:
            async with admin.begin() as conn:
                for schema in schemas:
                    await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        except OSError as exc:
            pytest.skip(reason=f"PostgreSQL not reachable at {PG_URL} ({exc})")
        finally:
            await admin.dispose()
        engines = [create_engine(PG_URL, search_path=schema) for schema in schemas]
    try:
        for engine in engines:
            await upgrade(engine)
        yield engines[0], engines[1]
    finally:
        for engine in engines:
            await engine.dispose()
        if schemas:
            admin = create_engine(PG_URL)
            try:
                async with admin.begin() as conn:
                    for schema in schemas:
                        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            finally:
                await admin.dispose()


async def test_the_fill_stores_the_rows_journey_store_writes(
    two_databases: tuple[AsyncEngine, AsyncEngine],
) -> None:
    by_store, by_fill = two_databases
    await _written_by_the_store(by_store, CALLS)
    await fill(by_fill, CALLS, saved_at=SAVED_AT)
    for table in TABLES:
        expected = await _rows(by_store, table)
        assert expected, table.name
        assert await _rows(by_fill, table) == expected, table.name


def test_a_filled_sqlite_file_is_left_in_wal_mode_like_the_products(tmp_path: Path) -> None:
    async def filled() -> None:
        engine = create_engine(f"sqlite:///{tmp_path / 'filled.db'}")
        try:
            await upgrade(engine)
            await fill(engine, 10, saved_at=SAVED_AT)
        finally:
            await engine.dispose()

    asyncio.run(filled())
    with sqlite3.connect(tmp_path / "filled.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT count(*) FROM calls").fetchone() == (10,)
