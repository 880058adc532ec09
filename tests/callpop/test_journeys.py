"""Journeys are saved by call id: what the screen-pop and analytics read back.
On SQLite and PostgreSQL (the `engine` fixture of tests/conftest.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.journeys import JourneyStore
from crm_adapter.sql.tables import calls
from ivr.journey import Journey, JourneyOutcome, Step


def _journey(call_id: str = "1795389902.7", name: str = "Alice") -> Journey:
    journey = Journey(
        call_id=call_id,
        flow="main",
        caller_number="+15551234567",
        caller_name=name,
        dnis="7000",
        started_at="2026-11-24T15:00:00.000Z",
    )
    journey.steps.append(Step("main", "main_menu", "menu", 0, 4000, keys=["1"], result="1"))
    journey.outcome = JourneyOutcome("queue", "billing", 1, "option", 4200)
    return journey


async def test_a_saved_journey_reads_back_by_call_id(engine: AsyncEngine) -> None:
    store = JourneyStore(engine)
    await store.save(_journey())
    saved = await store.get("1795389902.7")
    assert saved is not None
    assert saved["steps"][0]["node"] == "main_menu"
    assert saved["outcome"]["target"] == "billing"


async def test_saving_twice_replaces_instead_of_duplicating(engine: AsyncEngine) -> None:
    store = JourneyStore(engine)
    await store.save(_journey())
    second = _journey()
    second.outcome = JourneyOutcome("hangup", None, None, "caller-hangup", 9000)
    await store.save(second)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(calls.c.outcome))).all()
    assert [r.outcome for r in rows] == ["hangup"]


async def test_an_absurdly_long_caller_name_is_clipped_not_refused(engine: AsyncEngine) -> None:
    store = JourneyStore(engine)
    await store.save(_journey(name="x" * 10_000))
    async with engine.connect() as conn:
        name = (await conn.execute(select(calls.c.caller_name))).scalar_one()
    assert len(name) == 200


async def test_an_unknown_call_id_reads_as_none(engine: AsyncEngine) -> None:
    assert await JourneyStore(engine).get("nope") is None
