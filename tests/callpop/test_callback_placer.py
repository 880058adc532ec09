"""Placing callbacks over real AMI (the simulator on a socket): when an agent of the
queue is free, in the order they were asked for, again when the customer did not
answer (within the limit), and never twice, across a restart or two instances
(docs/admin.md, "Callbacks")."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.callbacks.placer import CallbackPlacer
from callpop.callbacks.store import CallbackStore
from callpop.config import CallbackSettings
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_originate import Originations
from callpop.pbx_sim.ami_status import QueueBoard, QueueMemberSpec
from ivr.ports import CallEvent

from ..ami.scripted import queue_call
from .callbacks_harness import placing

AT = datetime(2026, 12, 6, 10, 42, tzinfo=UTC)
BOB = QueueMemberSpec("billing", "PJSIP/101", "Bob Agent")
ANN = QueueMemberSpec("billing", "PJSIP/102", "Ann Agent")
FAST = CallbackSettings(retry_s=0, agent_retry_s=0)


async def until(condition: Callable[[], object], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:  # a condition on counters and rows, not an event to wait on
            if condition():
                return
            await asyncio.sleep(0.01)


async def until_state(
    store: CallbackStore, call_id: str, state: str, *, result: str | None = None
) -> None:
    async with asyncio.timeout(5):
        while True:
            rows = {cb.call_id: cb for cb in await store.listing()}
            row = rows.get(call_id)
            if row is not None and row.state == state and result in (None, row.result):
                return
            await asyncio.sleep(0.02)


async def ask(store: CallbackStore, call_id: str, number: str) -> None:
    await store.request(
        call_id=call_id, queue="billing", number=number, caller_name="Carol Caller",
        waited_s=360, at=AT,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def instance(
    sim: AMIServer,
    engine: AsyncEngine,
    name: str = "a",
    settings: CallbackSettings = FAST,
    running: bool = True,
) -> AsyncIterator[CallbackPlacer]:
    events: list[CallEvent] = []
    store = CallbackStore(engine)
    async with placing(
        sim, store, events.append, settings=settings, name=name, running=running
    ) as placer:
        yield placer


def pbx(*members: QueueMemberSpec) -> tuple[Originations, QueueBoard]:
    return Originations(members), QueueBoard(list(members))


async def test_a_callback_rings_a_free_agent_of_its_queue_then_dials_the_customer(
    engine: AsyncEngine,
) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1", "5551234")
    calls, board = pbx(BOB)
    async with AMIServer(username="callpop", secret="pw", answers=[calls, board]) as sim:
        async with instance(sim, engine):
            (sent,) = await sim.wait_action("Originate")
    assert sent.get("Channel") == "PJSIP/101"
    assert (sent.get("Context"), sent.get("Exten")) == ("callpop-callback", "5551234")
    (row,) = await store.listing()
    assert sent.get("ChannelId") == f"callback-{row.id}-1"
    assert sent.get("Async") == "true"


async def test_no_callback_is_placed_while_the_queues_agents_are_busy(
    engine: AsyncEngine,
) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1", "5551234")
    calls, board = pbx(BOB)
    talking = dataclasses.replace(queue_call("t1", "1800000000.1"), queue="billing")
    talking.joined(), talking.agent_called(), talking.answered()
    board.add(talking)
    async with AMIServer(username="callpop", secret="pw", answers=[calls, board]) as sim:
        async with instance(sim, engine) as placer:
            await until(lambda: placer.steps >= 5)
            assert calls.placed == []
            sim.emit(calls.member_status("PJSIP/101", "1"))
            await sim.wait_action("Originate")
    assert calls.numbers() == ["5551234"]


async def test_callbacks_are_placed_in_the_order_they_were_asked_for(engine: AsyncEngine) -> None:
    store = CallbackStore(engine)
    for n in (1, 2, 3):
        await ask(store, f"c{n}", f"555000{n}")
    calls, board = pbx(BOB)
    async with AMIServer(username="callpop", secret="pw", answers=[calls, board]) as sim:
        async with instance(sim, engine):
            for n in (1, 2, 3):
                await sim.wait_action("Originate", n)
                channel = calls.placed[-1].channel_id
                sim.emit(calls.agent_answers(channel))
                sim.emit(calls.customer_answers(channel))
                await until_state(store, f"c{n}", "connected")
                sim.emit(calls.hang_up(channel))
    assert calls.numbers() == ["5550001", "5550002", "5550003"]


async def test_a_customer_who_does_not_answer_is_called_again_up_to_the_limit(
    engine: AsyncEngine,
) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1", "5551234")
    calls, board = pbx(BOB)
    settings = FAST.model_copy(update={"attempts": 2})
    async with AMIServer(username="callpop", secret="pw", answers=[calls, board]) as sim:
        async with instance(sim, engine, settings=settings) as placer:
            for n in (1, 2):
                await sim.wait_action("Originate", n)
                channel = calls.placed[-1].channel_id
                sim.emit(calls.agent_answers(channel))
                sim.emit(calls.customer_does_not_answer(channel))
            await until_state(store, "c1", "failed")
            steps = placer.steps
            await until(lambda: placer.steps >= steps + 5)
    (row,) = await store.listing()
    assert [o.channel_id for o in calls.placed] == [f"callback-{row.id}-1", f"callback-{row.id}-2"]
    assert (row.attempts, row.result) == (2, "noanswer")


async def test_an_agent_who_does_not_take_a_callback_costs_the_customer_no_attempt(
    engine: AsyncEngine,
) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1", "5551234")
    calls, board = pbx(BOB, ANN)
    rested = FAST.model_copy(update={"agent_retry_s": 60})
    async with AMIServer(username="callpop", secret="pw", answers=[calls, board]) as sim:
        async with instance(sim, engine, settings=rested):
            (first,) = await sim.wait_action("Originate")
            sim.emit(calls.agent_does_not_answer(first.get("ChannelId") or ""))
            await sim.wait_action("Originate", 2)
    assert [o.interface for o in calls.placed] == ["PJSIP/101", "PJSIP/102"]
    (row,) = await store.listing()
    assert (row.state, row.attempts) == ("placing", 1)


async def test_a_restart_mid_call_follows_the_call_and_never_places_it_again(
    engine: AsyncEngine,
) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1", "5550001")
    await ask(store, "c2", "5550002")
    calls, board = pbx(BOB)
    async with AMIServer(username="callpop", secret="pw", answers=[calls, board]) as sim:
        async with instance(sim, engine, "before"):
            await sim.wait_action("Originate")
            await until_state(store, "c1", "placing")
            first = calls.placed[0].channel_id
            sim.emit(calls.agent_answers(first))
        # callpop is down while the agent's leg rings the customer; then comes back
        async with instance(sim, engine, "after") as placer:
            await until(lambda: placer.steps >= 3)
            sim.emit(calls.customer_answers(first))
            await until_state(store, "c1", "connected")
            sim.emit(calls.hang_up(first))
            await sim.wait_action("Originate", 2)
    assert calls.numbers() == ["5550001", "5550002"]


async def test_a_call_that_ended_while_callpop_was_down_is_not_placed_again(
    engine: AsyncEngine,
) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1", "5550001")
    calls, board = pbx(BOB)
    async with AMIServer(username="callpop", secret="pw", answers=[calls, board]) as sim:
        async with instance(sim, engine, "before"):
            await sim.wait_action("Originate")
            await until_state(store, "c1", "placing", result="ringing-agent")
        first = calls.placed[0].channel_id
        # the call ran its whole course while no instance listened
        calls.agent_answers(first), calls.customer_answers(first), calls.hang_up(first)
        async with instance(sim, engine, "after") as placer:
            await until_state(store, "c1", "failed")
            steps = placer.steps
            await until(lambda: placer.steps >= steps + 5)
    assert calls.numbers() == ["5550001"]
    (row,) = await store.listing()
    assert row.result == "unknown"


async def test_two_instances_free_at_once_place_a_callback_once(engine: AsyncEngine) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1", "5550001")
    calls, board = pbx(BOB, ANN)
    async with AMIServer(username="callpop", secret="pw", answers=[calls, board]) as sim:
        async with (
            instance(sim, engine, "one", running=False) as one,
            instance(sim, engine, "two", running=False) as two,
        ):
            # both see the same free agents and the same head at the same moment
            for _ in range(3):
                await asyncio.gather(one.step(), two.step())
            await sim.wait_action("Originate")
    assert calls.numbers() == ["5550001"]
