"""State rebuilt from storage, not memory: an instance started on the database another
one wrote (a restart, or one more instance beside it) shows the same pops, accepts the
same dispositions and counts the same wallboard totals; queue events are rows that one
documented query joins to the journey, the pops and the interaction.

Both instances here are apps in this process with buses of their own, on one SQLite
file or one PostgreSQL schema: what the second knows can only come from the database.
(`tests/callpop/test_restart.py` restarts a real `callpop serve` process.)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.sql.tables import pops, queue_events
from ivr.ports import CallEvent
from screenpop.bus import BusEvent
from screenpop.redis_bus import RedisBus
from tests.redis_server import require_machine_redis, unique_key
from tests.screenpop.conftest import Desk, iso, make_desk
from tests.screenpop.wsclient import Tab, open_tab

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenpop.md"


@asynccontextmanager
async def instance(tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Desk]:
    async for desk in make_desk(tmp_path, engine=engine):
        yield desk


async def dispose(
    desk: Desk, session: Any, call: str, code: str = "resolved", notes: str = ""
) -> tuple[int, dict[str, Any]]:
    token = await desk.csrf(session)
    async with session.post(
        f"{desk.url}/api/v1/calls/{call}/disposition",
        json={"disposition": code, "notes": notes},
        headers={"X-CSRF-Token": token},
    ) as response:
        return response.status, await response.json()


async def no_answer(desk: Desk, call: str, agent: str) -> None:
    """The queue gave up ringing the agent (AgentRingNoAnswer)."""
    await desk.publish(
        "agent.ring_no_answer",
        call,
        queue="billing",
        interface=desk.accounts[agent].interface,
        ring_ms=15000,
    )


async def pops_after_reset(tab: Tab) -> dict[str, dict[str, Any]]:
    """The pops a reconnecting page is given: `reset`, then one event per pop, then the
    alert frame that ends the hello's answer."""
    await tab.until_type("reset")
    pops: dict[str, dict[str, Any]] = {}
    while True:
        frame = await tab.next()
        if frame["type"] == "alert":
            return pops
        if frame["type"].startswith("pop."):
            pops[frame["pop"]["call_id"]] = {"type": frame["type"], **frame["pop"]}


async def test_a_live_pop_comes_back_on_a_new_instance_and_its_disposition_is_accepted(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    async with instance(tmp_path, engine) as first:
        call = first.next_call_id()
        async with await first.logged_in("alice") as alice:
            tab = await open_tab(alice, first.url)
            await first.ivr(call, number="+15551234100")
            await first.ring(call, "alice")
            await first.answer(call, "alice")
            await tab.until_type("pop.accepted", call)
            await tab.send(type="notes", call_id=call, notes="asked about the March invoice")
            await tab.until(
                lambda f: (
                    f["type"] == "pop.updated"
                    and f["pop"]["notes"] == "asked about the March invoice"
                )
            )
        await first.settled()
    async with instance(tmp_path, engine) as second, await second.logged_in("alice") as alice:
        tab = await open_tab(alice, second.url, since=12, epoch="an-old-epoch")
        pops = await pops_after_reset(tab)
        assert list(pops) == [call]
        assert (
            pops[call]["type"],
            pops[call]["state"],
            pops[call]["queue"],
            pops[call]["notes"],
        ) == ("pop.accepted", "accepted", "billing", "asked about the March invoice")
        # the payload is read again: caller and journey of a call this instance never saw
        payload = pops[call]["payload"]
        if payload.get("status") != "complete":  # the reset came before the CRM answered
            payload = (
                await tab.until(
                    lambda f: (
                        f["type"] == "pop.updated"
                        and f["pop"]["payload"].get("status") == "complete"
                    )
                )
            )["pop"]["payload"]
        assert payload["caller"]["number"] == "+15551234100", payload
        status, body = await dispose(second, alice, call)
        assert (status, body["ok"]) == (200, True)
        await second.complete(call, "alice")
        done = await tab.until(
            lambda f: (
                f.get("pop", {}).get("call_id") == call and f["type"] in ("pop.done", "pop.wrapup")
            )
        )
        assert done["type"] == "pop.done"  # disposed during the call: nothing left to wrap up


async def test_a_wrapup_pop_comes_back_and_the_disposition_closes_it(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    async with instance(tmp_path, engine) as first:
        call = first.next_call_id()
        await first.ivr(call, number="+15551234101")
        await first.ring(call, "bob")
        await first.answer(call, "bob")
        await first.complete(call, "bob")
        await first.settled()
        assert first.hub.machine.pop(call, first.accounts["bob"].id).state.value == "wrapup"
    async with instance(tmp_path, engine) as second, await second.logged_in("bob") as bob:
        tab = await open_tab(bob, second.url)
        pops = await pops_after_reset(tab)
        assert {c: p["state"] for c, p in pops.items()} == {call: "wrapup"}
        status, _ = await dispose(second, bob, call, "callback", notes="call back Monday")
        assert status == 200
        done = await tab.until_type("pop.done", call)
        assert (done["pop"]["disposition"], done["pop"]["notes"]) == (
            "callback",
            "call back Monday",
        )


async def test_pops_that_ended_before_the_restart_stay_ended(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    async with instance(tmp_path, engine) as first:
        done, lost = first.next_call_id(), first.next_call_id()
        await first.ivr(done, number="+15551234102")
        await first.ring(done, "alice")
        await first.answer(done, "alice")
        await first.complete(done, "alice")
        async with await first.logged_in("alice") as alice:
            assert (await dispose(first, alice, done))[0] == 200
        await first.ivr(lost, number="+15551234103")
        await first.ring(lost, "alice")
        await no_answer(first, lost, "alice")
        await first.settled()
    async with instance(tmp_path, engine) as second, await second.logged_in("alice") as alice:
        tab = await open_tab(alice, second.url)
        assert await pops_after_reset(tab) == {}
        status, body = await dispose(second, alice, lost)
        assert (status, body["error"]) == (404, "no call of yours with this id")


async def test_the_wallboard_totals_and_waiting_calls_survive_a_restart(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    async with instance(tmp_path, engine) as first:
        answered = [first.next_call_id() for _ in range(2)]
        abandoned, waiting = first.next_call_id(), first.next_call_id()
        for n, call in enumerate(answered):
            await first.ivr(call, number=f"+1555123420{n}")
            await first.ring(call, "alice" if n else "bob")
            await first.answer(call, "alice" if n else "bob")
        await first.ivr(abandoned, number="+15551234210")
        await first.publish("queue.left", abandoned, queue="billing", reason="abandoned")
        await first.publish("call.hungup", abandoned, cause="16")
        await first.ivr(waiting, number="+15551234211", queue="sales")
        await first.settled()
        before = first.hub.board()
    async with instance(tmp_path, engine) as second, await second.logged_in("sue") as sue:
        board = await open_tab(sue, second.url, view="wallboard")
        after = (await board.until_type("wallboard"))["board"]
    assert before["totals"]["handled"] == 2 and before["totals"]["abandoned"] == 1
    for key in ("handled", "abandoned", "waiting", "talking"):
        assert after["totals"][key] == before["totals"][key], key
    assert [
        (q["queue"], [c["call_id"] for c in q["calls"]], q["calls"][0]["caller"])
        for q in after["queues"]
    ] == [("sales", [waiting], "+15551234211")]
    agents = {a["name"]: (a["state"], a["call_id"]) for a in after["agents"]}
    assert agents["alice"] == ("on_call", answered[1])
    assert agents["bob"] == ("on_call", answered[0])


async def stored_events(engine: AsyncEngine, call: str) -> list[tuple[str, str, str | None]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(queue_events.c.kind, queue_events.c.interface, queue_events.c.reason)
                .where(queue_events.c.call_id == call)
                .order_by(queue_events.c.at, queue_events.c.id)
            )
        ).all()
    return [(r.kind, r.interface, r.reason) for r in rows]


async def test_a_call_both_read_back_and_delivered_by_the_bus_is_counted_once(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    """A hub enters the bus before it reads the rows back: an event published in between,
    whose row another instance already wrote, reaches it both ways."""
    at = iso()
    answered, abandoned = "1763900000.901", "1763900000.902"
    ends = [
        CallEvent("queue.left", answered, at, {"queue": "billing", "reason": "connected"}),
        CallEvent("queue.left", abandoned, at, {"queue": "billing", "reason": "abandoned"}),
    ]
    async with instance(tmp_path, engine) as first:
        for event in ends:
            first.bus.publish(event)
        await first.settled()
    async with instance(tmp_path, engine) as second:
        read_back = second.hub.board()["totals"]
        for event in ends:  # the same events, delivered after the rows were read
            second.bus.publish(event)
        await second.settled()
        totals = second.hub.board()["totals"]
    assert (read_back["handled"], read_back["abandoned"]) == (1, 1)
    assert (totals["handled"], totals["abandoned"]) == (1, 1)


async def test_queue_events_are_rows_of_the_call_with_the_reasons(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    async with instance(tmp_path, engine) as desk:
        call, gone = desk.next_call_id(), desk.next_call_id()
        await desk.ivr(call, number="+15551234300")
        await desk.ring(call, "bob")
        await no_answer(desk, call, "bob")
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        await desk.complete(call, "alice")
        await desk.ivr(gone, number="+15551234301")
        await desk.ring(gone, "bob")
        await desk.publish("queue.left", gone, queue="billing", reason="abandoned")
        await desk.publish("call.hungup", gone, cause="16")
        await desk.settled()
    assert await stored_events(engine, call) == [
        ("joined", "", None),
        ("offered", "PJSIP/102", None),
        ("no_answer", "PJSIP/102", None),
        ("withdrawn", "PJSIP/102", "no_answer"),
        ("offered", "PJSIP/101", None),
        ("left", "", "connected"),
        ("connected", "PJSIP/101", None),
        ("completed", "PJSIP/101", None),
        ("hungup", "", None),
    ]
    assert await stored_events(engine, gone) == [
        ("joined", "", None),
        ("offered", "PJSIP/102", None),
        ("abandoned", "", "abandoned"),
        ("withdrawn", "PJSIP/102", "abandoned"),
        ("hungup", "", None),
    ]


async def test_two_instances_seeing_the_same_events_leave_one_row_per_event(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    async with instance(tmp_path, engine) as first, instance(tmp_path, engine) as second:
        call = first.next_call_id()
        at = "2026-12-06T09:00:00.000Z"
        for desk in (first, second):  # what a shared bus hands both hubs
            for type_, data in (
                ("queue.joined", {"queue": "billing"}),
                ("agent.ringing", {"queue": "billing", "interface": "PJSIP/101"}),
                ("agent.connected", {"queue": "billing", "interface": "PJSIP/101"}),
            ):
                desk.hub.handle_event(_event(type_, call, at, data))
            await desk.settled()
    assert [kind for kind, _, _ in await stored_events(engine, call)] == [
        "joined",
        "offered",
        "connected",
    ]


def _event(type_: str, call_id: str, at: str, data: dict[str, Any]) -> BusEvent:
    return BusEvent(0, type_, call_id, at, data)


def reconciling_query() -> str:
    """The query of docs/screenpop.md, "Reconciling a call", as the docs print it."""
    section = DOCS.read_text(encoding="utf-8").split("## Reconciling a call", 1)[1]
    found = re.search(r"```sql\n(.*?)```", section, re.DOTALL)
    assert found is not None, "docs/screenpop.md lost its reconciling query"
    return found.group(1)


async def test_the_documented_query_joins_journey_queue_events_pops_and_interaction(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    async with instance(tmp_path, engine) as desk:
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551234400", steps=[("main_menu", "menu", "Billing", ["1"])])
        await desk.ring(call, "bob")
        await no_answer(desk, call, "bob")
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        await desk.complete(call, "alice")
        async with await desk.logged_in("alice") as alice:
            assert (await dispose(desk, alice, call, "resolved", "explained the fee"))[0] == 200
        await desk.settled()
    async with engine.connect() as conn:
        rows = (await conn.execute(text(reconciling_query()), {"call_id": call})).mappings().all()
    story = [(r["kind"], r["agent"], r["pop_state"], r["reason"]) for r in rows]
    assert story == [
        ("joined", None, None, None),
        ("offered", "bob", "retracted", None),
        ("no_answer", "bob", "retracted", None),
        ("withdrawn", "bob", "retracted", "no_answer"),
        ("offered", "alice", "done", None),
        ("left", None, None, "connected"),
        ("connected", "alice", "done", None),
        ("completed", "alice", "done", None),
        ("hungup", None, None, None),
    ]
    # the IVR and the CRM's record on every row: one call id ties them together
    assert {
        (
            r["caller"],
            r["ivr_outcome"],
            r["ivr_target"],
            r["disposed_by"],
            r["disposition"],
            r["notes"],
        )
        for r in rows
    } == {("+15551234400", "queue", "billing", "alice", "resolved", "explained the fee")}
    journey = rows[0]["journey"]
    assert journey is not None and "main_menu" in str(journey)


# --- several instances on PostgreSQL and one Redis stream --------------------------------


def redis_bus(url: str, key: str) -> RedisBus:
    return RedisBus(Redis.from_url(url), key=key, block_ms=100, retry_s=0.05)


@asynccontextmanager
async def on_redis(tmp_path: Path, engine: AsyncEngine, bus: RedisBus) -> AsyncIterator[Desk]:
    try:
        async for desk in make_desk(tmp_path, engine=engine, bus=bus):
            yield desk
    finally:
        await bus.aclose()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_instances_sharing_postgresql_and_redis_rebuild_the_same_view(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    url, key = require_machine_redis(), unique_key()
    async with on_redis(tmp_path, engine, redis_bus(url, key)) as a:
        async with on_redis(tmp_path, engine, redis_bus(url, key)) as b:
            call = a.next_call_id()
            async with await b.logged_in("alice") as alice:
                tab_b = await open_tab(alice, b.url)
                tab_a = await open_tab(alice, a.url)
                await a.ivr(call, number="+15551234500")  # the call's events go through A
                await a.ring(call, "alice")
                await a.answer(call, "alice")
                for tab in (tab_a, tab_b):  # both hubs took them from the stream
                    await tab.until_type("pop.accepted", call)
            for desk in (a, b):
                await desk.hub.history.drained()
            board_a = a.hub.board()
        # both instances wrote every queue event; one row each is left
        assert await stored_events(engine, call) == [
            ("joined", "", None),
            ("offered", "PJSIP/101", None),
            ("left", "", "connected"),
            ("connected", "PJSIP/101", None),
        ]
        # B restarts (a new process: a new bus client, an empty hub) while A runs on
        async with on_redis(tmp_path, engine, redis_bus(url, key)) as b2:
            async with await b2.logged_in("alice") as alice:
                tab = await open_tab(alice, b2.url, since=9, epoch="b-before-the-restart")
                assert {c: p["state"] for c, p in (await pops_after_reset(tab)).items()} == {
                    call: "accepted"
                }
                on_a = await open_tab(alice, a.url)
                await on_a.until_type("reset")
                # what the agent does on B2 reaches A's hub too, through the stream
                await tab.send(type="notes", call_id=call, notes="typed on B2")
                await on_a.until(
                    lambda f: f["type"] == "pop.updated" and f["pop"]["notes"] == "typed on B2"
                )
                status, _ = await dispose(b2, alice, call)
                assert status == 200
                await a.complete(call, "alice")  # the call ends on A's side of the stream
                for seen in (tab, on_a):  # disposed during the call, on either instance
                    await seen.until_type("pop.done", call)
            board_b2 = b2.hub.board()
    assert board_b2["totals"]["handled"] == board_a["totals"]["handled"] == 1


async def test_a_disposition_is_in_the_pops_table_when_the_agent_is_told_it_was_saved(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    async with instance(tmp_path, engine) as desk, await desk.logged_in("alice") as alice:
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551234190")
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        await desk.complete(call, "alice")
        tab = await open_tab(alice, desk.url)
        await tab.until_type("pop.wrapup", call)
        status, _ = await dispose(desk, alice, call, "resolved", notes="refund issued")
        assert status == 200
        # read at once, before the history writer's linger could have passed
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(pops.c.state, pops.c.disposition, pops.c.notes).where(
                        pops.c.call_id == call
                    )
                )
            ).one()
        assert tuple(row) == ("done", "resolved", "refund issued")
