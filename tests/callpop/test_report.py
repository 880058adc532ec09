"""Journey analytics: the numbers `callpop report` computes in the database, from known
simulated calls, on SQLite and PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.journeys import JourneyStore
from callpop.report.query import ReportFilters, build_report
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.tables import calls, journeys
from ivr.loader import load_dialplan
from tests.callpop.known_journeys import OPEN, Call, run, store

ROOT = Path(__file__).resolve().parents[2]
FLOWS = load_dialplan(ROOT / "dialplan").flows

# 10 calls on the sample during opening hours, the CRM finding no one (main_menu):
CALLS = [
    *[Call("1 2")] * 3,  # billing_menu, then a question about a charge: billing queue
    *[Call("h")] * 2,  # hang up at the main menu
    Call("0"),  # the operator key at the main menu
    Call("w w"),  # two silences: max-timeouts, on to the operator
    Call("9 1 2"),  # an invalid key, then billing
    Call("4 3 2", version="v2hash000002", day=3),  # complaint follow-up, on another version, later
    Call("1 h"),  # billing menu, then hang up
]


async def test_per_node_entries_keys_timeouts_invalid_operator_and_hangups(
    engine: AsyncEngine,
) -> None:
    await store(engine, FLOWS, CALLS)
    report = await build_report(engine, ReportFilters(), FLOWS)
    assert report.calls == 10
    assert report.outcomes == {"queue": 7, "hangup": 3}
    menu = report.node("main", "main_menu")
    assert menu is not None
    assert (
        menu.entries,
        menu.timeouts,
        menu.invalid,
        menu.operator,
        menu.hangups,
        menu.gave_up,
    ) == (10, 2, 1, 1, 2, 1)
    assert menu.keys == {"1": 5, "4": 1}
    assert menu.drop_off == 0.2
    billing = report.node("main", "billing_menu")
    assert billing is not None
    assert (billing.entries, billing.hangups, billing.keys) == (5, 1, {"2": 4})


async def test_time_spent_per_node_is_the_sum_of_its_visits(engine: AsyncEngine) -> None:
    await store(engine, FLOWS, CALLS)
    report = await build_report(engine, ReportFilters(), FLOWS)
    welcome = report.node("main", "welcome")
    assert welcome is not None
    # The three welcome prompts last 6.125 s in the simulator, for each of the 10 calls.
    assert (welcome.ms_total, welcome.avg_ms) == (61_250, 6125)


async def test_nodes_come_in_the_flow_file_s_order(engine: AsyncEngine) -> None:
    await store(engine, FLOWS, CALLS)
    report = await build_report(engine, ReportFilters(), FLOWS)
    assert [n.node for n in report.nodes][:5] == [
        "welcome",
        "hours",
        "identify",
        "flood_check",
        "main_menu",
    ]


async def test_per_intent_calls_and_time_to_reach(engine: AsyncEngine) -> None:
    await store(engine, FLOWS, CALLS)
    report = await build_report(engine, ReportFilters(), FLOWS)
    intents = {(i.topic, i.outcome, i.target): i for i in report.intents}
    billing = intents[("billing", "queue", "billing")]
    # "1 2" reaches the billing queue at 36.765 s, "9 1 2" (one invalid key) at 57.72 s.
    assert (billing.calls, billing.min_ms, billing.max_ms, billing.avg_ms) == (
        4,
        36_765,
        57_720,
        42_004,
    )
    assert intents[(None, "queue", "operator")].calls == 2
    assert intents[("complaints", "queue", "complaints")].calls == 1


async def test_filters_by_version_since_and_flow(engine: AsyncEngine) -> None:
    await store(engine, FLOWS, CALLS)
    v2 = await build_report(engine, ReportFilters(version="v2hash000002"), FLOWS)
    assert v2.calls == 1
    assert v2.outcomes == {"queue": 1}
    later = await build_report(engine, ReportFilters(since=OPEN + timedelta(days=1)), FLOWS)
    assert later.calls == 1
    assert later.node("main", "complaint_menu") is not None
    assert (await build_report(engine, ReportFilters(flow="tech"), FLOWS)).calls == 0
    assert (
        await build_report(engine, ReportFilters(flow="main", version="v1hash000001"), FLOWS)
    ).calls == 9


async def test_an_empty_database_gives_an_empty_report(engine: AsyncEngine) -> None:
    report = await build_report(engine, ReportFilters(), FLOWS)
    assert (report.calls, report.nodes, report.intents) == (0, [], [])


async def test_a_journey_saved_again_under_its_call_id_counts_once(engine: AsyncEngine) -> None:
    await store(engine, FLOWS, CALLS[:3])
    # A retried save of call-0, and call-1 saved again after a different ending.
    await JourneyStore(engine).write(
        [run(FLOWS, "call-0", CALLS[0]), run(FLOWS, "call-1", Call("h"))]
    )
    report = await build_report(engine, ReportFilters(), FLOWS)
    assert report.calls == 3
    assert report.outcomes == {"queue": 2, "hangup": 1}
    menu = report.node("main", "main_menu")
    assert menu is not None
    assert (menu.entries, menu.hangups, menu.keys) == (3, 1, {"1": 2})


async def test_journeys_stored_before_the_statistics_are_counted_by_the_migration(
    tmp_path: Path,
) -> None:
    """An upgraded site's report covers the journeys it stored before the upgrade."""
    old = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    new = create_engine(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        await upgrade(old, "0001")
        entries = [run(FLOWS, f"call-{i}", call) for i, call in enumerate(CALLS)]
        async with old.begin() as conn:
            for journey, data in entries:
                started = datetime.fromisoformat(journey.started_at.replace("Z", "+00:00"))
                await conn.execute(
                    insert(calls).values(
                        call_id=journey.call_id, flow=journey.flow, started_at=started
                    )
                )
                await conn.execute(
                    insert(journeys).values(call_id=journey.call_id, data=data, saved_at=started)
                )
        await upgrade(old)
        await upgrade(new)
        await JourneyStore(new).write(entries)
        migrated = await build_report(old, ReportFilters(), FLOWS)
        written = await build_report(new, ReportFilters(), FLOWS)
        assert migrated.calls == 10
        assert migrated.to_dict() == written.to_dict()
    finally:
        await old.dispose()
        await new.dispose()
