"""The virtual PBX's queue state and callbacks, over a real AMI socket: what callpop's
listener folds (members, callers waiting, the estimated wait) and what its callback
placer's Originate does (the agent rung first, then the customer's test phone)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from callpop.ami.client import AMIClient
from callpop.ami.codec import Message
from callpop.ami.controls import AmiControls
from callpop.ami.queue_state import QueueState, QueueStates
from callpop.demo.originated import OriginatedCall, same_number
from callpop.demo.pbx import PbxSettings, VirtualPbx
from callpop.demo.phones import PhoneState
from callpop.demo.prompts import PromptBook
from callpop.pbx_sim.ami import AMIServer
from ivr.catalog import Queue, QueueCatalog
from tests.demo.test_pbx import closed_port

CATALOG = QueueCatalog(
    operator="operator",
    queues={"operator": Queue(strategy="ringall"), "billing": Queue(strategy="rrmemory")},
)


@dataclass
class Wire:
    """callpop's side of the AMI socket: every event heard, folded as the listener does."""

    client: AMIClient
    events: list[Message] = field(default_factory=list)
    states: QueueStates = field(default_factory=QueueStates)
    heard: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def hear(self, msg: Message) -> None:
        self.events.append(msg)
        self.states.feed(msg, time.time())
        async with self.heard:
            self.heard.notify_all()

    async def resync(self) -> None:
        """What the listener does on login: QueueStatus folded."""
        for msg in await self.client.action("QueueStatus", idempotent=True, listing=True):
            self.states.feed(msg, time.time())

    def state(self, queue: str) -> QueueState:
        return self.states.snapshot(time.time())[queue]

    async def until(self, event: str, **fields: str) -> Message:
        def found() -> Message | None:
            return next(
                (
                    m
                    for m in self.events
                    if m.event == event and all(m.get(k) == v for k, v in fields.items())
                ),
                None,
            )

        async with asyncio.timeout(5), self.heard:
            await self.heard.wait_for(lambda: found() is not None)
        message = found()
        assert message is not None
        return message


@asynccontextmanager
async def pbx_on_wire(settings: PbxSettings) -> AsyncIterator[tuple[VirtualPbx, Wire]]:
    """A virtual PBX with `settings` and callpop's side of its AMI socket, logged in."""
    async with AMIServer() as ami:
        pbx = VirtualPbx(settings, ami=ami, book=PromptBook({}), queues=CATALOG)
        wire: Wire
        client = AMIClient(
            ami.host, ami.port, "callpop", "callpop", on_event=lambda m: wire.hear(m)
        )
        wire = Wire(client)
        task = asyncio.create_task(client.run())
        try:
            async with asyncio.timeout(5):
                await client.wait_connected()
                await ami.wait_listeners(1)
            yield pbx, wire
        finally:
            await client.close()
            async with asyncio.timeout(5):
                await task
            await pbx.aclose()


@pytest.fixture
async def pbx() -> AsyncIterator[tuple[VirtualPbx, Wire]]:
    async with pbx_on_wire(PbxSettings("127.0.0.1", closed_port())) as served:
        yield served


class Phone:
    """An agent's page: the phone's display as the page is told it."""

    def __init__(self) -> None:
        self.views: list[dict[str, Any]] = []

    def __call__(self, view: dict[str, Any]) -> None:
        self.views.append(view)


class CustomerPage:
    """A test phone page as a callback's customer line."""

    def __init__(self, number: str) -> None:
        self.number: str | None = number
        self.leg: OriginatedCall | None = None
        self.frames: list[dict[str, Any]] = []
        self.rung = asyncio.Event()

    def free(self) -> bool:
        return self.leg is None

    def ring(self, leg: OriginatedCall) -> None:
        self.leg = leg
        self.rung.set()

    def tell(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)


async def test_an_agent_online_is_a_queue_member_callpop_sees_free(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    virtual.phones.register("PJSIP/101", "alice", Phone())
    added = await wire.until("QueueMemberAdded", Queue="billing")
    assert (added.get("Interface"), added.get("MemberName"), added.get("Status")) == (
        "PJSIP/101",
        "alice",
        "1",
    )
    state = wire.state("billing")
    assert (state.logged_in, state.available, state.callers, state.ewt_s) == (1, 1, 0, 0)


async def test_queue_status_lists_members_callers_waiting_and_the_talk_time(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    virtual.phones.register("PJSIP/101", "alice", Phone())
    virtual.flood.start("billing", 3)
    answer = await wire.client.action("QueueStatus", idempotent=True, listing=True)
    params = next(m for m in answer if m.event == "QueueParams" and m.get("Queue") == "billing")
    assert (params.get("Calls"), params.get("TalkTime"), params.get("Strategy")) == (
        "3",
        "240",
        "rrmemory",
    )
    member = next(m for m in answer if m.event == "QueueMember" and m.get("Queue") == "billing")
    assert (member.get("Location"), member.get("Status"), member.get("InCall")) == (
        "PJSIP/101",
        "2",
        "1",
    )
    entries = [m for m in answer if m.event == "QueueEntry" and m.get("Queue") == "billing"]
    assert [e.get("Position") for e in entries] == ["1", "2", "3"]


async def test_a_flood_holds_the_agents_and_the_estimate_is_production_s(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    await wire.resync()  # the queues' TalkTime, as the listener reads it on login
    alice = Phone()
    virtual.phones.register("PJSIP/101", "alice", alice)
    virtual.flood.start("billing", 8)
    await wire.until("QueueMemberStatus", Queue="billing", Status="2")
    for _ in range(8):
        await wire.until("QueueCallerJoin", Queue="billing", Count=str(_ + 1))
    state = wire.state("billing")
    # ahead = 8 - 0 + 1; ceil(9 * 240 / 1 staffed)
    assert (state.callers, state.available, state.ewt_s) == (8, 0, 2160)
    assert alice.views[-1]["state"] == "talking"
    assert alice.views[-1]["call"]["name"].startswith("Virtual caller")


async def test_an_agent_who_hangs_up_a_virtual_call_is_taken_by_the_next(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, _wire = pbx
    virtual.phones.register("PJSIP/101", "alice", Phone())
    virtual.flood.start("billing", 2)
    phone = virtual.phones.get("PJSIP/101")
    assert phone is not None and phone.call is not None
    first = phone.call.call_id
    phone.call.agent_hang_up(phone)
    assert phone.state is PhoneState.TALKING
    assert phone.call is not None and phone.call.call_id != first


async def test_stopping_the_flood_hangs_the_virtual_callers_up_and_frees_the_agents(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    await wire.resync()
    virtual.phones.register("PJSIP/101", "alice", Phone())
    virtual.flood.start("billing", 2)
    await wire.until("QueueCallerJoin", Queue="billing", Count="2")
    virtual.flood.stop()
    await wire.until("QueueMemberStatus", Queue="billing", Status="1")
    assert len([m for m in wire.events if m.event == "QueueCallerAbandon"]) == 2
    await wire.until("Hangup", CallerIDName="Virtual caller 2")
    state = wire.state("billing")
    assert (state.callers, state.available, state.ewt_s) == (0, 1, 0)
    assert virtual.flood.view().public() == {
        "type": "flood",
        "active": False,
        "queue": None,
        "waiting": 0,
        "holding": [],
    }


async def test_a_flood_of_no_callers_is_refused(pbx: tuple[VirtualPbx, Wire]) -> None:
    virtual, _wire = pbx
    with pytest.raises(ValueError, match="1 to 200 callers"):
        virtual.flood.start("billing", 0)
    assert not virtual.flood.active


async def _place(wire: Wire, number: str, channel_id: str) -> None:
    await AmiControls(lambda: wire.client).place_callback(
        interface="PJSIP/101",
        number=number,
        context="callpop-callback",
        channel_id=channel_id,
        ring_s=5,
        variables=(("CALLPOP_CALL_ID", channel_id), ("CALLPOP_CALLBACK", "1")),
    )


async def test_a_callback_rings_the_agent_then_the_customer_s_test_phone(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    alice = Phone()
    virtual.phones.register("PJSIP/101", "alice", alice)
    line = CustomerPage("+1 (555) 010-4321")
    virtual.lines.append(line)
    await _place(wire, "+15550104321", "callback-1-1")
    phone = virtual.phones.get("PJSIP/101")
    assert phone is not None
    assert alice.views[-1]["state"] == "ringing"
    assert alice.views[-1]["call"] == {
        "call_id": "callback-1-1",
        "number": "+15550104321",
        "name": "Callback",
        "queue": None,
        "kind": "callback",
        "ringback": False,
    }
    assert phone.call is not None
    phone.call.answer(phone)
    answered = await wire.until("OriginateResponse", Uniqueid="callback-1-1")
    assert (answered.get("Response"), answered.get("Reason")) == ("Success", "4")
    await wire.until("DialBegin", Uniqueid="callback-1-1")
    async with asyncio.timeout(5):
        await line.rung.wait()
    assert line.leg is not None
    line.leg.customer_answers()
    dial_end = await wire.until("DialEnd", Uniqueid="callback-1-1")
    assert dial_end.get("DialStatus") == "ANSWER"
    phone.call.agent_hang_up(phone)
    await wire.until("Hangup", Uniqueid="callback-1-1")
    assert alice.views[-1]["state"] == "idle"
    assert [f["type"] for f in line.frames] == ["connected", "state"]
    assert line.frames[-1]["reason"] == "alice hung up after talking."


async def test_a_callback_the_agent_rejects_is_an_originate_failure_busy(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    virtual.phones.register("PJSIP/101", "alice", Phone())
    await _place(wire, "+15550104321", "callback-2-1")
    phone = virtual.phones.get("PJSIP/101")
    assert phone is not None and phone.call is not None
    phone.call.decline(phone)
    failed = await wire.until("OriginateResponse", Channel="PJSIP/101")
    assert (failed.get("Response"), failed.get("Reason")) == ("Failure", "5")
    assert phone.state is PhoneState.IDLE


async def test_a_callback_to_an_agent_with_no_phone_online_fails_at_once(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    _virtual, wire = pbx
    await _place(wire, "+15550104321", "callback-3-1")
    failed = await wire.until("OriginateResponse", Channel="PJSIP/101")
    assert (failed.get("Response"), failed.get("Reason")) == ("Failure", "0")


async def test_a_callback_whose_customer_phone_is_busy_ends_dial_busy(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    virtual.phones.register("PJSIP/101", "alice", Phone())
    line = CustomerPage("+15550104321")
    line.leg = object()  # type: ignore[assignment]  # on another call
    virtual.lines.append(line)
    await _place(wire, "+15550104321", "callback-4-1")
    phone = virtual.phones.get("PJSIP/101")
    assert phone is not None and phone.call is not None
    phone.call.answer(phone)
    dial_end = await wire.until("DialEnd", Uniqueid="callback-4-1")
    assert dial_end.get("DialStatus") == "BUSY"
    await wire.until("Hangup", Uniqueid="callback-4-1")
    assert phone.state is PhoneState.IDLE


async def test_core_show_channels_lists_the_callers_waiting_and_the_callback_legs(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    virtual.phones.register("PJSIP/101", "alice", Phone())
    await _place(wire, "+15550104321", "callback-5-1")
    virtual.flood.start("operator", 1)  # alice is ringing: held once free, not now
    answer = await wire.client.action("CoreShowChannels", idempotent=True, listing=True)
    rows = [m for m in answer if m.event == "CoreShowChannel"]
    assert sorted((m.get("Application") or "") for m in rows) == ["AppDial2", "Queue"]
    done = next(m for m in answer if m.event == "CoreShowChannelsComplete")
    assert done.get("ListItems") == "2"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("+15550104321", "+15550104321", True),
        ("(555) 010-4321", "+15550104321", True),
        ("+15550104321", "+15550104322", False),
        ("4321", "+15550104321", False),
        ("", "+15550104321", False),
    ],
)
def test_a_test_phone_is_rung_for_its_own_number_however_written(
    a: str, b: str, same: bool
) -> None:
    assert same_number(a, b) is same
