"""The pop history: every state change of every pop lands in the `pops` table, written
in batches off the event path; a burst, a shutdown and a bad row lose nothing else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.sql.tables import agents, pops
from screenpop.history import PopHistory
from screenpop.pops import PopChange
from screenpop.sqlstore import SqlScreenpopStore
from screenpop.store import Account, PopRecord, QueueEventRecord
from tests.screenpop.conftest import Desk, make_desk
from tests.screenpop.wsclient import open_tab

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def table(engine: AsyncEngine) -> dict[tuple[str, int], dict[str, object]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(pops))).mappings().all()
    return {
        (r["call_id"], r["agent_id"]): {
            k: r[k]
            for k in ("state", "offered_at", "connected_at", "wrapup_at", "ended_at", "updated_at")
        }
        for r in rows
    }


async def two_agents(store: SqlScreenpopStore) -> tuple[Account, Account]:
    return (
        await store.add_account("ann", "PJSIP/301", "agent", "x"),
        await store.add_account("ben", "PJSIP/302", "agent", "x"),
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=10)
        return self.now


def change(kind: str, call_id: str, account: Account, state: str = "accepted") -> PopChange:
    """A pop change; an update's view says the state the pop is in."""
    return PopChange(kind, account.id, {"call_id": call_id, "state": state})  # type: ignore[arg-type]


async def test_a_batch_leaves_the_rows_that_one_write_per_change_leaves(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    store = SqlScreenpopStore(engine)
    ann, ben = await two_agents(store)
    story = [
        PopRecord("c1", ann.id, "offered", at(0)),
        PopRecord("c1", ben.id, "offered", at(0)),
        PopRecord("c1", ann.id, "live", at(5)),
        PopRecord("c1", ben.id, "retracted", at(5)),
        PopRecord("c1", ann.id, "wrapup", at(60)),
        PopRecord("c1", ann.id, "done", at(90)),
        PopRecord("c2", ben.id, "live", at(7)),  # answered with no ring seen
    ]
    await store.record_pops(story[:2])  # the offers were written by an earlier batch
    await store.record_pops(story[2:])
    batched = await table(engine)

    async with engine.begin() as conn:
        await conn.execute(delete(pops))
    for record in story:
        await store.record_pop(record.call_id, record.agent_id, record.state, record.at)
    assert await table(engine) == batched
    assert batched[("c1", int(ann.id))] == {
        "state": "done",
        "offered_at": at(0),
        "connected_at": at(5),
        "wrapup_at": at(60),
        "ended_at": at(90),
        "updated_at": at(90),
    }
    assert batched[("c1", int(ben.id))]["ended_at"] == at(5)
    assert batched[("c2", int(ben.id))]["offered_at"] == at(7)


async def test_every_change_of_a_burst_lands_in_few_transactions(engine: AsyncEngine) -> None:
    store = SqlScreenpopStore(engine)
    ann, ben = await two_agents(store)
    batches: list[int] = []
    record_history = store.record_history

    async def counted(
        records: Sequence[PopRecord], queue_events: Sequence[QueueEventRecord]
    ) -> None:
        batches.append(len(records) + len(queue_events))
        await record_history(records, queue_events)

    store.record_history = counted  # type: ignore[method-assign]
    history = PopHistory(store, Clock())
    writer = asyncio.create_task(history.run())
    try:
        for n in range(300):
            agent = ann if n % 2 else ben
            for kind in ("offered", "updated", "accepted", "wrapup"):
                history.record(change(kind, f"call-{n}", agent))
        await history.drained()
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    rows = await table(engine)
    assert len(rows) == 300
    assert {row["state"] for row in rows.values()} == {"wrapup"}
    assert sum(batches) == 1200 and len(batches) <= 3


async def test_changes_queued_at_shutdown_are_written_by_flush(engine: AsyncEngine) -> None:
    store = SqlScreenpopStore(engine)
    ann, _ = await two_agents(store)
    history = PopHistory(store, Clock(), linger_s=10.0)
    writer = asyncio.create_task(history.run())
    history.record(change("offered", "c1", ann))
    history.record(change("accepted", "c1", ann))
    await asyncio.sleep(0)  # the writer took the first change and lingers
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    history.record(change("wrapup", "c1", ann))
    assert history.pending == 3
    await history.flush()
    assert history.pending == 0
    assert (await table(engine))[("c1", int(ann.id))]["state"] == "wrapup"


async def test_a_bad_row_costs_only_itself_and_one_log_line(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqlScreenpopStore(engine)
    ann, ben = await two_agents(store)
    history = PopHistory(store, Clock())
    history.record(change("offered", "c1", ann))
    history.record(change("offered", "c2", ben))
    history.record(change("offered", "c3", ann))
    history.record(change("offered", "c4", ann))
    async with engine.begin() as conn:  # ben was removed while his pop was queued
        await conn.execute(delete(agents).where(agents.c.id == int(ben.id)))
    history.record(PopChange("offered", "not-an-id", {"call_id": "c5"}))
    with caplog.at_level(logging.ERROR, logger="screenpop.history"):
        await history.flush()
    assert sorted(call for call, _ in await table(engine)) == ["c1", "c3", "c4"]
    assert len(caplog.records) == 1
    assert "2 of 5 changes not recorded" in caplog.records[0].getMessage()


async def test_the_app_writes_the_history_of_a_call_ended_just_before_shutdown(
    tmp_path: Path,
) -> None:
    async for desk in make_desk(tmp_path):
        async with await desk.logged_in("alice") as alice:
            tab = await open_tab(alice, desk.url)
            call = desk.next_call_id()
            await desk.ivr(call, number="+15551234000")
            await desk.ring(call, "alice")
            await desk.answer(call, "alice")
            await desk.complete(call, "alice")
            await tab.until_type("pop.wrapup", call)
            await desk.server.close()
        rows = await desk.store.calls_of(
            desk.accounts["alice"].id, datetime.now(UTC) - timedelta(hours=1)
        )
        assert [(r.call_id, r.state) for r in rows] == [(call, "wrapup")]


async def test_the_agents_calls_of_today_show_every_change_already_sent(desk: Desk) -> None:
    """The page asks for the list when a pop goes to wrap-up: the list has it, though
    the history writes in batches."""
    async with await desk.logged_in("bob") as bob:
        tab = await open_tab(bob, desk.url)
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551234001")
        await desk.ring(call, "bob")
        await desk.answer(call, "bob")
        await desk.complete(call, "bob")
        await tab.until_type("pop.wrapup", call)
        async with bob.get(f"{desk.url}/api/v1/calls/today") as response:
            calls = (await response.json())["calls"]
    assert [(c["call_id"], c["state"], c["caller"]) for c in calls] == [
        (call, "wrapup", "+15551234001")
    ]


async def test_a_reader_waiting_for_the_history_does_not_wait_out_the_linger(
    engine: AsyncEngine,
) -> None:
    store = SqlScreenpopStore(engine)
    ann, _ = await two_agents(store)
    history = PopHistory(store, Clock(), linger_s=3600)
    writer = asyncio.create_task(history.run())
    try:
        history.record(change("offered", "c1", ann))
        await asyncio.wait_for(history.drained(), 5)
        history.record(change("accepted", "c1", ann))
        waiting = asyncio.create_task(history.drained())
        history.record(change("wrapup", "c1", ann))  # after the call: not waited for
        await asyncio.wait_for(waiting, 5)
        assert (await table(engine))[("c1", int(ann.id))]["state"] in ("live", "wrapup")
        await asyncio.wait_for(history.drained(), 5)
        assert (await table(engine))[("c1", int(ann.id))]["state"] == "wrapup"
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
