"""Databases for every test that needs one: each test gets a freshly migrated SQLite file or the
PostgreSQL schema of this test run (design.md: TEST_PG_URL, a schema per run),
emptied after the test. PostgreSQL tests skip, saying why, only when no server answers.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.ami.lease import lease_dsn
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.tables import metadata

PG_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Database:
    """Where a test's database lives: enough to open it again from another process."""

    url: str
    search_path: str | None = None

    def engine(self) -> AsyncEngine:
        return create_engine(self.url, search_path=self.search_path)


async def _pg_prepare(schema: str) -> None:
    engine = create_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        await engine.dispose()
    engine = create_engine(PG_URL, search_path=schema)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _pg_drop(schema: str) -> None:
    engine = create_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """This run's PostgreSQL schema, migrated once; skips when the server is away."""
    schema = f"callpop_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_pg_prepare(schema))
    except OSError as exc:  # refused, unresolvable, timed out: no server to test against
        pytest.skip(reason=f"PostgreSQL not reachable at {PG_URL} ({exc}); set TEST_PG_URL")
    yield schema
    asyncio.run(_pg_drop(schema))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'callpop.db'}")
    schema = request.getfixturevalue("pg_schema")
    return Database(PG_URL, search_path=schema)


@pytest.fixture
async def engine(database: Database) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database of the parametrised kind."""
    engine = database.engine()
    if database.search_path is None:
        await upgrade(engine)
    try:
        yield engine
    finally:
        if database.search_path is not None:
            # DELETE, not TRUNCATE: on a few rows it is ten times faster.
            async with engine.begin() as conn:
                for table in reversed(metadata.sorted_tables):
                    await conn.execute(table.delete())
        await engine.dispose()


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    """The URL of a migrated PostgreSQL database of the test's own, for what takes a plain
    URL in its config (`serve`, the classic script): tables in its `public` schema,
    dropped afterwards."""
    admin_dsn = lease_dsn(PG_URL)
    assert admin_dsn is not None
    name = f"callpop_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = await asyncpg.connect(admin_dsn)
    except OSError as exc:
        pytest.fail(
            f"PostgreSQL not reachable at {PG_URL} ({exc}): every development and CI machine runs one"
        )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
