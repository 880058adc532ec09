"""The screen-pop's SQL store: the read a pop makes of a call this process did not see
answers the same on the loop thread (SQLite's reader) as through the async engine."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.journeys import JourneyStore
from crm_adapter.sql.tables import journeys
from ivr.journey import Journey, JourneyStep
from screenpop.sqlstore import SqlScreenpopStore


def journey(call_id: str, number: str, name: str) -> Journey:
    made = Journey(
        call_id=call_id,
        flow="main",
        caller_number=number,
        caller_name=name,
        dnis="7000",
        started_at="2026-11-24T15:00:00.000Z",
        variables={"CALLPOP_TOPIC": "billing"},
    )
    made.steps.append(
        JourneyStep(
            flow="main",
            node="menu",
            kind="menu",
            entered_ms=0,
            left_ms=900,
            keys=["1"],
            result="1",
            label="Menü «principal»",
        )
    )
    return made


async def test_the_journey_and_caller_of_a_call_read_in_one_go(engine: AsyncEngine) -> None:
    saver = JourneyStore(engine)
    await saver.save(journey("full", "+15551239000", "ANA"))
    await saver.save(journey("row-only", "+15551239001", ""))
    async with engine.begin() as conn:
        await conn.execute(delete(journeys).where(journeys.c.call_id == "row-only"))
    fast, reference = SqlScreenpopStore(engine), SqlScreenpopStore(engine, sqlite_reader=False)
    for call_id in ("full", "row-only", "unknown"):
        assert await fast.journey_and_caller(call_id) == await reference.journey_and_caller(call_id)
    data, who = await fast.journey_and_caller("full")
    assert data == journey("full", "+15551239000", "ANA").to_dict()
    assert who == ("+15551239000", "ANA")
    assert await fast.journey_and_caller("row-only") == (None, ("+15551239001", ""))
    assert await fast.journey_and_caller("unknown") == (None, None)
    assert fast.reads_on_loop == (engine.dialect.name == "sqlite")
