"""Pop payloads: what the IVR already knew goes out with the ring; a slow CRM delays
only the details (a `pop.updated` follows), a dead one leaves the pop usable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_adapter.memory import InMemoryCrm
from crm_adapter.port import CrmUnavailable, Customer, CustomerDraft
from crm_adapter.settings import CrmSettings
from crm_adapter.sql.tables import journeys
from ivr import variables as V
from ivr.journey import Journey, JourneyOutcome, JourneyStep
from ivr.ports import CallEvent
from screenpop.keys import PAYLOADS
from screenpop.payload import PayloadBuilder
from tests.screenpop.conftest import Desk, iso, make_desk
from tests.screenpop.wsclient import open_tab


class GatedCrm(InMemoryCrm):
    """The port's in-memory CRM, whose phone lookups wait until the gate opens:
    a CRM that answers, but late."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.asked = asyncio.Event()
        self.lookups = 0

    async def find_by_phone(self, phone: str) -> list[Customer]:
        self.lookups += 1
        self.asked.set()
        await self.gate.wait()
        return await super().find_by_phone(phone)


def sam_elsewhere(call: str) -> Journey:
    """The journey of Sam's call whose IVR ran in another process (the classic AGI
    script): this process knows the caller only from the database."""
    return Journey(
        call_id=call,
        flow="main",
        caller_number="+15551232000",
        caller_name="SAM",
        dnis="7000",
        started_at="2026-11-24T15:00:00.000Z",
    )


@pytest.fixture
async def slow(tmp_path: Path) -> AsyncIterator[tuple[Desk, GatedCrm]]:
    crm = GatedCrm()
    crm.add_customer(CustomerDraft(name="Sam Slow", phones=("+15551232000",), tier="gold"))
    async for desk in make_desk(tmp_path, crm=crm):
        yield desk, crm


async def test_a_slow_crm_does_not_hold_the_pop_back(slow: tuple[Desk, GatedCrm]) -> None:
    desk, crm = slow
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        call = desk.next_call_id()
        await desk.ivr(
            call,
            number="+15551232000",
            name="SAM",
            steps=[("main_menu", "menu", "Main menu", ["2"])],
            tier="gold",
        )
        await desk.ring(call, "alice")
        offered = await tab.until_type("pop.offered", call)
        payload = offered["pop"]["payload"]
        assert payload["status"] == "loading" and payload["match"] == "pending"
        # what the IVR knew is there already
        assert payload["caller"] == {"number": "+15551232000", "name": "SAM"}
        assert payload["tier"] == "gold" and payload["topic"] == "billing"
        assert [s["node"] for s in payload["ivr"]["steps"]] == ["main_menu"]
        crm.gate.set()
        updated = await tab.until_type("pop.updated", call)
        assert updated["pop"]["payload"]["customer"]["name"] == "Sam Slow"
        assert updated["pop"]["payload"]["status"] == "complete"


async def test_past_the_pops_own_window_the_pop_settles_for_partial(tmp_path: Path) -> None:
    crm = GatedCrm()  # never opened: a CRM that has not answered yet
    # the window is the pop's own, not derived from the IVR's budget (once it was
    # max(5 s, 10 x budget): 10 s here, past the test socket's 5 s deadline)
    window = CrmSettings(lookup_budget_ms=1000, pop_window_s=1.0)
    async for desk in make_desk(tmp_path, crm=crm, settings={"crm": window}):
        async with await desk.logged_in("alice") as alice:
            tab = await open_tab(alice, desk.url)
            call = desk.next_call_id()
            await desk.ivr(call, number="+15551232000", name="SAM")
            await desk.ring(call, "alice")
            offered = await tab.until_type("pop.offered", call)
            assert offered["pop"]["payload"]["status"] == "loading"
            updated = await tab.until_type("pop.updated", call)
            payload = updated["pop"]["payload"]
            assert (payload["status"], payload["crm_error"]) == (
                "partial",
                "the CRM did not answer in time",
            )
            assert payload["caller"]["name"] == "SAM"


async def test_the_lookup_starts_while_the_caller_waits_in_the_queue(
    slow: tuple[Desk, GatedCrm],
) -> None:
    desk, crm = slow
    call = desk.next_call_id()
    await desk.ivr(call, number="+15551232000")
    # the IVR handed the call to a queue: the prefetch is under way before any ring
    async with asyncio.timeout(5):
        await crm.asked.wait()
    crm.gate.set()
    await desk.server.app[PAYLOADS].complete(call)
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        await tab.until_type("welcome")
        await desk.ring(call, "alice")
        offered = await tab.until_type("pop.offered", call)
        assert offered["pop"]["payload"]["customer"]["name"] == "Sam Slow"
        assert crm.lookups == 1  # no second CRM round trip on ring


async def test_a_crm_outage_leaves_a_usable_pop(tmp_path: Path) -> None:
    crm = InMemoryCrm()
    crm.failure = CrmUnavailable("down for maintenance")
    async for desk in make_desk(tmp_path, crm=crm):
        async with await desk.logged_in("alice") as alice:
            tab = await open_tab(alice, desk.url)
            await desk.ivr(
                "c-outage", number="+15551232001", steps=[("main_menu", "menu", "Main menu", [])]
            )
            await desk.ring("c-outage", "alice")
            frame = await tab.until(
                lambda f: (
                    f.get("pop", {}).get("call_id") == "c-outage"
                    and f["pop"]["payload"]["status"] != "loading"
                )
            )
            payload = frame["pop"]["payload"]
            assert payload["status"] == "partial" and payload["match"] == "unknown"
            assert "CRM" in payload["crm_error"]
            assert payload["caller"]["number"] == "+15551232001"
            assert payload["ivr"]["steps"][0]["label"] == "Main menu"


def count_reads(desk: Desk) -> list[str]:
    """The call ids the app read from the database for a pop (the store's own method,
    counted)."""
    reads: list[str] = []
    read = desk.store.journey_and_caller

    async def counted(call_id: str) -> Any:
        reads.append(call_id)
        return await read(call_id)

    desk.store.journey_and_caller = counted  # type: ignore[method-assign]
    return reads


def journey_table_is_empty(desk: Desk) -> Any:
    async def check() -> bool:
        async with desk.store._engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(journeys))).scalar() == 0

    return check()


async def test_a_call_seen_on_the_bus_pops_its_ivr_path_without_the_database(desk: Desk) -> None:
    reads = count_reads(desk)
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        call = desk.next_call_id()
        await desk.ivr(
            call,
            number="+15551232100",
            name="ROSA",
            steps=[
                ("main_menu", "menu", "Main menu", ["2"]),
                ("billing", "menu", "Billing", ["1"]),
            ],
            save_journey=False,
        )
        await desk.ring(call, "alice")
        frame = await tab.until(
            lambda f: (
                f.get("pop", {}).get("call_id") == call
                and f["pop"]["payload"]["status"] != "loading"
            )
        )
        payload = frame["pop"]["payload"]
        assert [(s["label"], s["keys"]) for s in payload["ivr"]["steps"]] == [
            ("Main menu", ["2"]),
            ("Billing", ["1"]),
        ]
        assert payload["caller"] == {"number": "+15551232100", "name": "ROSA"}
        assert payload["topic"] == "billing" and payload["script"]["title"] == "Billing question"
    assert await journey_table_is_empty(desk)
    assert reads == []


async def test_a_call_not_seen_gets_its_path_and_caller_from_the_database(desk: Desk) -> None:
    """The classic AGI script runs the IVR in another process: its journey is only in
    the database, and the queue events are all this process sees of the call."""
    reads = count_reads(desk)
    call = desk.next_call_id()
    journey = Journey(
        call_id=call,
        flow="main",
        caller_number="+15551232101",
        caller_name="OMAR",
        dnis="7000",
        started_at="2026-11-24T15:00:00.000Z",
    )
    journey.steps.append(
        JourneyStep(
            flow="main",
            node="main_menu",
            kind="menu",
            entered_ms=0,
            left_ms=900,
            keys=["3"],
            result="3",
            label="Main menu",
        )
    )
    journey.variables = {V.OUTCOME: "queue", V.QUEUE: "billing", V.TOPIC: "billing"}
    journey.outcome = JourneyOutcome("queue", "billing", 0, "option", 1000)
    await desk.journeys.save(journey)
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        await tab.until_type("welcome")
        await desk.publish("queue.joined", call, queue="billing", position=1, priority=0)
        await desk.ring(call, "alice")
        frame = await tab.until(
            lambda f: (
                f.get("pop", {}).get("call_id") == call
                and f["pop"]["payload"]["status"] != "loading"
            )
        )
        payload = frame["pop"]["payload"]
        assert [(s["label"], s["keys"]) for s in payload["ivr"]["steps"]] == [("Main menu", ["3"])]
        assert payload["caller"] == {"number": "+15551232101", "name": "OMAR"}
        assert payload["topic"] == "billing"
    assert reads == [call]


async def test_a_call_without_ivr_or_journey_gets_its_caller_from_the_calls_row(desk: Desk) -> None:
    call = desk.next_call_id()
    journey = Journey(
        call_id=call,
        flow="main",
        caller_number="+15551232102",
        caller_name="IDA",
        dnis="7000",
        started_at="2026-11-24T15:00:00.000Z",
    )
    await desk.journeys.save(journey)  # writes the calls row and the journey
    async with desk.store._engine.begin() as conn:
        await conn.execute(journeys.delete())
    payload = await desk.server.app[PAYLOADS].complete(call)
    assert payload["caller"] == {"number": "+15551232102", "name": "IDA"}
    assert payload["ivr"]["steps"] == []


class Ticking:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def builder(**options: Any) -> PayloadBuilder:
    class NoDatabase:
        async def journey_and_caller(self, call_id: str) -> Any:
            raise AssertionError(f"call {call_id} was seen: no database read")

    return PayloadBuilder(InMemoryCrm(), NoDatabase(), **options)  # type: ignore[arg-type]


def ended(call_id: str, outcome: str) -> CallEvent:
    journey = Journey(
        call_id=call_id,
        flow="main",
        caller_number="+15551232103",
        caller_name="",
        dnis="7000",
        started_at="2026-11-24T15:00:00.000Z",
    )
    return CallEvent(
        "ivr.ended",
        call_id,
        "2026-11-24T15:00:01.000Z",
        {
            "outcome": outcome,
            "target": None,
            "variables": {V.OUTCOME: outcome},
            "journey": journey.to_dict(),
        },
    )


async def test_calls_held_for_pops_are_bounded_in_number_and_idle_time() -> None:
    clock = Ticking()
    payloads = builder(max_calls=3, max_idle_s=600, monotonic=clock)
    for n in range(5):
        payloads.observe(CallEvent("ivr.started", f"c{n}", "t", {"flow": "main"}))
    assert [c for c in ("c0", "c1", "c2", "c3", "c4") if c in payloads] == ["c2", "c3", "c4"]
    clock.now = 300
    payloads.observe(CallEvent("ivr.node", "c4", "t", {"node": "menu", "kind": "menu"}))
    clock.now = 700  # c2 and c3 idle for 700 s, c4 for 400 s
    payloads.observe(CallEvent("ivr.started", "c5", "t", {"flow": "main"}))
    assert [c for c in ("c2", "c3", "c4", "c5") if c in payloads] == ["c4", "c5"]
    await payloads.aclose()


async def test_a_ring_before_the_ivr_ended_shows_the_nodes_the_caller_went_through() -> None:
    payloads = builder()
    payloads.observe(
        CallEvent(
            "ivr.started",
            "c1",
            "t",
            {"flow": "main", "dnis": "7000", "caller": {"number": "+1555"}},
        )
    )
    payloads.observe(CallEvent("ivr.node", "c1", "t", {"node": "welcome", "kind": "play"}))
    payloads.observe(CallEvent("ivr.node", "c1", "t", {"node": "main_menu", "kind": "menu"}))
    payload = payloads.known("c1")
    assert payload["ivr"]["steps"] == [
        {"node": "welcome", "label": "", "kind": "play", "keys": [], "result": ""},
        {"node": "main_menu", "label": "", "kind": "menu", "keys": [], "result": ""},
    ]
    assert (payload["flow"], payload["dnis"], payload["caller"]["number"]) == (
        "main",
        "7000",
        "+1555",
    )
    assert payload["status"] == "loading" and payload["cases"] == []
    assert payload["ivr"]["outcome"] is None
    await payloads.aclose()


async def test_a_call_the_ivr_ends_without_an_agent_is_forgotten_at_once() -> None:
    payloads = builder()
    payloads.observe(ended("hung-up", "hangup"))
    payloads.observe(ended("voicemail", "voicemail"))
    payloads.observe(ended("queued", "queue"))
    assert "hung-up" not in payloads and "voicemail" not in payloads
    assert "queued" in payloads
    payload = await payloads.complete("queued")
    assert payload["caller"]["number"] == "+15551232103" and payload["status"] == "complete"
    payloads.forget("queued")
    assert "queued" not in payloads


async def test_a_call_whose_ivr_ran_elsewhere_is_gathered_while_it_waits_in_the_queue(
    slow: tuple[Desk, GatedCrm],
) -> None:
    desk, crm = slow
    call = desk.next_call_id()
    await desk.journeys.save(sam_elsewhere(call))  # by the classic AGI script
    await desk.publish("queue.joined", call, queue="billing", position=1, priority=0)
    async with asyncio.timeout(5):
        await crm.asked.wait()  # before any agent is rung
    crm.gate.set()
    await desk.server.app[PAYLOADS].complete(call)
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        await tab.until_type("welcome")
        await desk.ring(call, "alice")
        offered = await tab.until_type("pop.offered", call)
        assert offered["pop"]["payload"]["status"] == "complete"
        assert offered["pop"]["payload"]["customer"]["name"] == "Sam Slow"
        assert crm.lookups == 1


async def test_without_prefetch_nothing_is_read_until_the_pop_is_completed(
    slow: tuple[Desk, GatedCrm],
) -> None:
    """With several instances every hub sees every queued call, and only the rung agent's
    instance needs its payload: no read while the caller waits, one when it is asked."""
    desk, crm = slow
    builder = PayloadBuilder(crm, desk.store, prefetch=False)
    call = desk.next_call_id()
    await desk.journeys.save(sam_elsewhere(call))  # its IVR ran elsewhere
    builder.observe(CallEvent("queue.joined", call, iso(), {"queue": "billing"}))
    await asyncio.sleep(0.1)
    assert crm.lookups == 0
    crm.gate.set()
    await builder.complete(call)
    assert crm.lookups == 1
    await builder.aclose()


async def test_a_callbacks_pop_tells_when_it_was_asked_for_with_the_ivr_path_of_that_call(
    tmp_path: Path,
) -> None:
    crm = InMemoryCrm()
    crm.add_customer(CustomerDraft(name="Carol Caller", phones=("+15557654321",)))
    async for desk in make_desk(tmp_path, crm=crm):
        asked_on = desk.next_call_id()
        await desk.ivr(
            asked_on, number="+15557654321", steps=[("main_menu", "menu", "Main menu", ["2"])]
        )
        await desk.publish("call.hungup", asked_on)  # the caller hung up to wait for the call
        async with await desk.logged_in("alice") as alice:
            tab = await open_tab(alice, desk.url)
            await desk.publish(
                "callback.placing", "callback-1-2", callback_id=1, asked_on=asked_on,
                queue="billing", number="+15557654321", caller_name="Carol",
                requested_at="2026-12-06T10:42:05.000Z", waited_s=361, attempt=2,
                interface="PJSIP/101",
            )  # fmt: skip
            await desk.ring("callback-1-2", "alice")
            offered = await tab.until_type("pop.offered", "callback-1-2")
            payload = offered["pop"]["payload"]
            assert payload["callback"] == {
                "asked_on": asked_on,
                "requested_at": "2026-12-06T10:42:05.000Z",
                "waited_s": 361,
                "attempt": 2,
                "number": "+15557654321",
            }
            assert payload["caller"] == {"number": "+15557654321", "name": "Carol"}
            if payload["status"] == "loading":
                payload = (await tab.until_type("pop.updated", "callback-1-2"))["pop"]["payload"]
            assert payload["customer"]["name"] == "Carol Caller"
            assert [s["node"] for s in payload["ivr"]["steps"]] == ["main_menu"]


async def test_a_call_that_is_no_callback_has_none_in_its_pop(tmp_path: Path) -> None:
    async for desk in make_desk(tmp_path):
        async with await desk.logged_in("alice") as alice:
            tab = await open_tab(alice, desk.url)
            call = desk.next_call_id()
            await desk.ivr(call, number="+15551232000")
            await desk.ring(call, "alice")
            offered = await tab.until_type("pop.offered", call)
            assert offered["pop"]["payload"]["callback"] is None
