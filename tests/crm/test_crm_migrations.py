"""The Alembic history: one line, and it builds exactly the tables the code queries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.queue_store import QueueStateStore
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import current_revision, heads, upgrade
from crm_adapter.sql.tables import metadata


def test_the_history_has_exactly_one_head() -> None:
    assert len(heads()) == 1, f"branched migration history, heads: {heads()}"


async def test_the_migrated_schema_is_the_schema_the_code_queries(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        drift = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), metadata
            )
        )
    assert drift == []


async def test_the_database_is_at_the_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == heads()[0]


async def test_upgrading_an_up_to_date_database_changes_nothing(engine: AsyncEngine) -> None:
    await upgrade(engine)
    assert await current_revision(engine) == heads()[0]


async def test_every_operational_table_is_there(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        names = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    assert {
        "customers",
        "customer_phones",
        "cases",
        "interactions",
        "outbox",
        "agents",
        "calls",
        "journeys",
        "pops",
    } <= names


async def test_queue_state_written_before_freshness_is_as_fresh_as_its_last_write(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    try:
        await upgrade(engine, "0011_customer_pins")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO queue_states (queue, callers, longest_wait_s, logged_in,"
                    " available, paused, ewt_s, open, full, updated_at)"
                    " VALUES ('billing', 3, 40, 2, 0, 0, 600, 1, 0, '2026-12-06 10:00:00.000000')"
                )
            )
        await upgrade(engine)
        (row,) = (await QueueStateStore(engine).rows()).values()
        assert row.seen_at == datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
        assert row.fields["ewt_s"] == 600
    finally:
        await engine.dispose()
