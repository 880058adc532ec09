"""A test-phone caller in an Asterisk queue: the AMI events the virtual PBX writes, read
back by callpop's own AMI codec and triggers, give the pops a real Asterisk would.

Each test is a little call-center scene: agents' phones online or not, a caller in a
queue with one strategy, agents who answer, reject, let it ring or hang up."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from callpop.ami.codec import Decoder, Message
from callpop.ami.codec import Signal as Wire
from callpop.ami.triggers import Triggers
from callpop.demo.phones import AgentPhone, Phones, PhoneState
from callpop.demo.queueing import QueueEnd, QueueFloor, QueueVisit, Signal
from callpop.pbx_sim.ami_events import Ids, Snapshot, Writer
from ivr.catalog import Queue
from ivr.ports import CallEvent

CALL_ID = "1795400100.1"
WAIT_S = 5.0  # a bound on each wait, never a synchronisation


class Caller:
    """The PhoneCall the phones ring for: their clicks become the visit's signals."""

    def __init__(self) -> None:
        self.signals: asyncio.Queue[Signal] = asyncio.Queue()
        self.call_id = CALL_ID
        self.agent_channel: str | None = None

    def caller_view(self) -> dict[str, Any]:
        return {"number": "+15550104321", "name": "Sean Chen", "queue": "billing"}

    def answer(self, phone: AgentPhone) -> None:
        self.signals.put_nowait(Signal("answer", phone))

    def decline(self, phone: AgentPhone) -> None:
        self.signals.put_nowait(Signal("decline", phone))

    def agent_hang_up(self, phone: AgentPhone) -> None:
        self.signals.put_nowait(Signal("agent_hangup", phone))

    def hang_up(self) -> None:
        self.signals.put_nowait(Signal("caller_hangup"))


class Floor:
    """Agents' phones, the AMI wire and what callpop's triggers make of it."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self.callers: list[Caller] = []
        self.phones = Phones(self._free, time.monotonic)
        self.messages: list[Message] = []
        self.call_events: list[CallEvent] = []
        self._decoder = Decoder(expect_banner=False)
        self._triggers = Triggers()
        self.floor = QueueFloor(
            self.phones,
            self.emit,
            Ids("1795400100", 2),
            Writer(),
            time.monotonic,
            random.Random(1),
            retry_s=0.05,
        )

    def _free(self) -> None:
        for caller in self.callers:
            caller.signals.put_nowait(Signal("free"))

    def emit(self, events: list[bytes]) -> None:
        for chunk in events:
            self._decoder.receive_data(chunk)
        while isinstance(message := self._decoder.next_event(), Message):
            self.messages.append(message)
            self.call_events += self._triggers.feed(message, now=time.time())
        assert message is Wire.NEED_DATA
        self.changed.set()

    def online(self, interface: str, agent: str) -> AgentPhone:
        return self.phones.register(interface, agent, lambda _view: self.changed.set())

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    def visit(self, caller: Caller, queue: Queue, name: str = "billing") -> asyncio.Task[QueueEnd]:
        self.callers.append(caller)
        snapshot = Snapshot(
            channel="PJSIP/trunk-00000001",
            uniqueid=CALL_ID,
            linkedid=CALL_ID,
            context="callpop-route",
            exten="queue",
            priority=3,
            caller_num="+15550104321",
            caller_name="Sean Chen",
            variables=(("CALLPOP_CALL_ID", CALL_ID),),
        )
        visit = QueueVisit(
            name=name,
            queue=queue,
            caller=snapshot,
            call=caller,
            floor=self.floor,
            signals=caller.signals,
            tell=lambda _frame: self.changed.set(),
        )
        return asyncio.create_task(visit.run())

    def names(self) -> list[str]:
        return [m.event or "" for m in self.messages]

    def pops(self) -> list[tuple[str, str]]:
        """(call event, agent interface) as the screen-pop gets them."""
        return [
            (e.type, str(e.data.get("interface") or e.data.get("reason") or ""))
            for e in self.call_events
            if e.type.startswith(("agent.", "queue.left"))
        ]

    def rung(self, phone: AgentPhone) -> Callable[[], bool]:
        return lambda: phone.state is PhoneState.RINGING


RINGALL = Queue(strategy="ringall", ring_timeout="30s")


async def test_ringall_rings_every_free_agent_and_the_first_to_answer_takes_the_call() -> None:
    floor, caller = Floor(), Caller()
    alice, bob = floor.online("PJSIP/101", "alice"), floor.online("PJSIP/102", "bob")
    visit = floor.visit(caller, RINGALL)
    await floor.until(lambda: floor.rung(alice)() and floor.rung(bob)())
    caller.answer(bob)
    await floor.until(lambda: bob.state is PhoneState.TALKING)
    assert alice.state is PhoneState.IDLE
    caller.agent_hang_up(bob)
    end = await visit
    assert end == QueueEnd("talked", agent="bob", hung_up_by="agent")
    assert floor.pops() == [
        ("agent.ringing", "PJSIP/101"),
        ("agent.ringing", "PJSIP/102"),
        ("queue.left", "connected"),
        ("agent.connected", "PJSIP/102"),
        ("agent.completed", "PJSIP/102"),
    ]
    # the loser's leg is cancelled as app_queue does it: no Agent* event of its own
    alice_leg = [
        m
        for m in floor.messages
        if (m.get("DestChannel") or "").startswith("PJSIP/101")
        or (m.get("Channel") or "").startswith("PJSIP/101")
    ]
    assert [(m.event, m.get("DialStatus")) for m in alice_leg] == [
        ("AgentCalled", None),
        ("DialBegin", None),
        ("DialState", "RINGING"),
        ("DialEnd", "CANCEL"),
        ("Hangup", None),
    ]


async def test_an_agent_who_lets_it_ring_gets_ring_no_answer_then_the_same_call_again() -> None:
    floor, caller = Floor(), Caller()
    alice = floor.online("PJSIP/101", "alice")
    visit = floor.visit(caller, Queue(strategy="rrmemory", ring_timeout="50ms"))
    await floor.until(lambda: ("agent.ring_no_answer", "PJSIP/101") in floor.pops())
    await floor.until(lambda: floor.pops().count(("agent.ringing", "PJSIP/101")) == 2)
    caller.answer(alice)
    await floor.until(lambda: alice.state is PhoneState.TALKING)
    caller.hang_up()
    assert await visit == QueueEnd("talked", agent="alice", hung_up_by="caller")
    assert floor.pops()[:3] == [
        ("agent.ringing", "PJSIP/101"),
        ("agent.ring_no_answer", "PJSIP/101"),
        ("agent.ringing", "PJSIP/101"),
    ]
    completed = [e for e in floor.call_events if e.type == "agent.completed"]
    assert [e.data["reason"] for e in completed] == ["caller"]


async def test_a_rejected_call_is_a_ring_with_no_answer() -> None:
    floor, caller = Floor(), Caller()
    alice = floor.online("PJSIP/101", "alice")
    visit = floor.visit(caller, RINGALL)
    await floor.until(floor.rung(alice))
    caller.decline(alice)
    await floor.until(lambda: ("agent.ring_no_answer", "PJSIP/101") in floor.pops())
    caller.hang_up()
    assert (await visit).how == "abandoned"


async def test_a_caller_who_hangs_up_while_agents_ring_abandons_and_their_offers_end() -> None:
    floor, caller = Floor(), Caller()
    alice = floor.online("PJSIP/101", "alice")
    visit = floor.visit(caller, RINGALL)
    await floor.until(floor.rung(alice))
    caller.hang_up()
    assert await visit == QueueEnd("abandoned")
    assert alice.state is PhoneState.IDLE
    assert floor.names()[-6:] == [
        "HangupRequest",
        "QueueCallerAbandon",
        "QueueCallerLeave",
        "DialEnd",
        "Hangup",
        "Hangup",
    ]
    assert floor.pops()[-1] == ("queue.left", "abandoned")
    assert floor.call_events[-1].type == "call.hungup"


async def test_a_caller_waits_until_an_agent_comes_online() -> None:
    floor, caller = Floor(), Caller()
    visit = floor.visit(caller, RINGALL)
    await floor.until(lambda: "QueueCallerJoin" in floor.names())
    assert "AgentCalled" not in floor.names()
    bob = floor.online("PJSIP/102", "bob")
    await floor.until(floor.rung(bob))
    caller.hang_up()
    await visit


async def test_a_caller_past_the_queue_max_wait_times_out() -> None:
    floor, caller = Floor(), Caller()
    end = await floor.visit(caller, Queue(strategy="ringall", max_wait="50ms"))
    assert end == QueueEnd("timeout")
    assert floor.pops() == [("queue.left", "timeout")]


async def test_round_robin_with_memory_rings_the_next_agent_for_the_next_caller() -> None:
    floor = Floor()
    alice, bob = floor.online("PJSIP/101", "alice"), floor.online("PJSIP/102", "bob")
    queue = Queue(strategy="rrmemory", ring_timeout="30s")
    first, second = Caller(), Caller()
    visit = floor.visit(first, queue)
    await floor.until(floor.rung(alice))
    assert bob.state is PhoneState.IDLE
    first.hang_up()
    await visit
    floor.callers.clear()
    visit = floor.visit(second, queue)
    await floor.until(floor.rung(bob))
    assert alice.state is PhoneState.IDLE
    second.hang_up()
    await visit


@pytest.mark.parametrize("strategy", ["leastrecent", "fewestcalls", "random", "linear"])
async def test_one_at_a_time_strategies_ring_one_free_agent(strategy: str) -> None:
    floor, caller = Floor(), Caller()
    phones = [floor.online("PJSIP/101", "alice"), floor.online("PJSIP/102", "bob")]
    visit = floor.visit(caller, Queue.model_validate({"strategy": strategy, "ring_timeout": "30s"}))
    await floor.until(lambda: any(p.state is PhoneState.RINGING for p in phones))
    assert sum(p.state is PhoneState.RINGING for p in phones) == 1
    caller.hang_up()
    await visit


async def test_an_agent_is_not_rung_again_until_the_queues_wrapuptime_after_their_last_call() -> (
    None
):
    floor = Floor()
    alice = floor.online("PJSIP/101", "alice")
    queue = Queue(strategy="ringall", ring_timeout="30s", wrapup="400ms")
    first = Caller()
    visit = floor.visit(first, queue)
    await floor.until(floor.rung(alice))
    first.answer(alice)
    await floor.until(lambda: alice.state is PhoneState.TALKING)
    first.hang_up()
    await visit

    second = Caller()
    waiting = floor.visit(second, queue)
    await floor.until(floor.rung(alice))
    rung_after_s = time.monotonic() - alice.last_call_ended
    second.hang_up()
    await waiting
    assert rung_after_s >= 0.4  # a lower bound: a busy machine only makes it later
    assert floor.pops().count(("agent.ringing", "PJSIP/101")) == 2


async def test_without_wrapuptime_a_free_agent_is_rung_at_once() -> None:
    floor = Floor()
    alice = floor.online("PJSIP/101", "alice")
    queue = Queue(strategy="ringall", ring_timeout="30s", wrapup="0s")
    first = Caller()
    visit = floor.visit(first, queue)
    await floor.until(floor.rung(alice))
    first.answer(alice)
    await floor.until(lambda: alice.state is PhoneState.TALKING)
    first.hang_up()
    await visit
    second = Caller()
    waiting = floor.visit(second, queue)
    await floor.until(floor.rung(alice))
    second.hang_up()
    assert (await waiting).how == "abandoned"
