"""Click-to-dial on the virtual PBX, over a real AMI socket: the panel's `Originate`
(callpop.ami.controls, as production sends it) rings the agent's demo phone first; once
the agent answers, the dialled number rings on the test phone open as that number; a
number nobody answers (or a phone that declines) ends the call, and the agent's phone
shows why."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from callpop.ami.controls import AmiControls
from callpop.demo.pbx import PbxSettings, VirtualPbx
from callpop.demo.phones import AgentPhone, PhoneState
from callpop.pbx_sim.ami_originate import caller_id
from tests.demo.test_flood import CustomerPage, Phone, Wire, pbx_on_wire
from tests.demo.test_pbx import closed_port

NUMBER = "+15550104321"


@pytest.fixture
async def pbx() -> AsyncIterator[tuple[VirtualPbx, Wire]]:
    # the customer's number rings half a second before Dial gives up (NOANSWER)
    settings = PbxSettings("127.0.0.1", closed_port(), customer_ring_s=0.5)
    async with pbx_on_wire(settings) as served:
        yield served


class Display(Phone):
    """Alice's page: the phone's display, awaited state by state."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def __call__(self, view: dict[str, Any]) -> None:
        super().__call__(view)
        self.changed.set()

    async def until(self, state: str) -> None:
        async with asyncio.timeout(5):
            while self.views[-1]["state"] != state:
                self.changed.clear()
                await self.changed.wait()


async def _dial(
    pbx: VirtualPbx, wire: Wire, alice: Display, number: str = NUMBER
) -> tuple[AgentPhone, str]:
    """The panel's Call box: Originate of alice's PJSIP/101 to `number`; her phone rings."""
    controls = AmiControls(lambda: wire.client, context="default")
    action_id = await controls.originate(interface="PJSIP/101", number=number)
    await alice.until("ringing")
    phone = pbx.phones.get("PJSIP/101")
    assert phone is not None
    return phone, action_id


async def test_click_to_dial_rings_the_agent_as_an_outbound_call_then_the_number(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    alice = Display()
    virtual.phones.register("PJSIP/101", "alice", alice)
    line = CustomerPage("(555) 010-4321")
    virtual.lines.append(line)
    phone, action_id = await _dial(virtual, wire, alice)
    assert alice.views[-1]["call"]["kind"] == "outbound"
    assert alice.views[-1]["call"]["number"] == NUMBER
    assert not line.rung.is_set()  # the agent's phone first
    assert phone.call is not None
    phone.call.answer(phone)
    answered = await wire.until("OriginateResponse", ActionID=action_id)
    assert (answered.get("Response"), answered.get("Reason")) == ("Success", "4")
    assert (answered.get("Context"), answered.get("CallerIDNum")) == ("default", NUMBER)
    begin = await wire.until("DialBegin", DestCallerIDNum=NUMBER)
    async with asyncio.timeout(5):
        await line.rung.wait()
    assert line.leg is not None and line.leg.kind == "outbound"
    await alice.until("talking")
    assert alice.views[-1]["call"]["ringback"] is True  # alice hears the number ring
    line.leg.customer_answers()
    dial_end = await wire.until("DialEnd", Uniqueid=begin.get("Uniqueid") or "")
    assert dial_end.get("DialStatus") == "ANSWER"
    assert alice.views[-1]["call"]["ringback"] is False
    assert line.frames[-1]["type"] == "connected" and line.frames[-1]["outbound"] is True
    line.leg.customer_hangs_up()
    await wire.until("Hangup", Uniqueid=begin.get("Uniqueid") or "")
    assert phone.state is PhoneState.IDLE
    assert line.frames[-1]["reason"] == "You hung up after talking."


async def test_a_dialled_number_nobody_answers_ends_noanswer_shown_on_the_agent_s_phone(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    alice = Display()
    virtual.phones.register("PJSIP/101", "alice", alice)
    phone, _ = await _dial(virtual, wire, alice)  # no test phone is open as the number
    assert phone.call is not None
    phone.call.answer(phone)
    dial_end = await wire.until("DialEnd", DestCallerIDNum=NUMBER)
    assert dial_end.get("DialStatus") == "NOANSWER"
    await wire.until("Hangup", Uniqueid=dial_end.get("Uniqueid") or "")
    assert phone.state is PhoneState.IDLE
    assert alice.views[-1]["notice"] == f"No answer from {NUMBER}"


async def test_a_test_phone_that_declines_the_call_is_busy_for_the_agent(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    alice = Display()
    virtual.phones.register("PJSIP/101", "alice", alice)
    line = CustomerPage(NUMBER)
    virtual.lines.append(line)
    phone, _ = await _dial(virtual, wire, alice)
    assert phone.call is not None
    phone.call.answer(phone)
    async with asyncio.timeout(5):
        await line.rung.wait()
    assert line.leg is not None
    line.leg.customer_hangs_up()
    dial_end = await wire.until("DialEnd", DestCallerIDNum=NUMBER)
    assert dial_end.get("DialStatus") == "BUSY"
    await wire.until("Hangup", Uniqueid=dial_end.get("Uniqueid") or "")
    assert alice.views[-1]["notice"] == f"{NUMBER} is busy"


async def test_the_next_call_clears_the_last_call_s_failure_from_the_display(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    virtual, wire = pbx
    alice = Display()
    virtual.phones.register("PJSIP/101", "alice", alice)
    phone, _ = await _dial(virtual, wire, alice)
    assert phone.call is not None
    phone.call.answer(phone)
    await wire.until("DialEnd", DestCallerIDNum=NUMBER)
    await alice.until("idle")
    await _dial(virtual, wire, alice, "+15550109999")
    assert alice.views[-1]["state"] == "ringing" and alice.views[-1]["notice"] is None


async def test_an_agent_without_a_phone_online_gets_an_originate_failure(
    pbx: tuple[VirtualPbx, Wire],
) -> None:
    _virtual, wire = pbx
    controls = AmiControls(lambda: wire.client, context="default")
    action_id = await controls.originate(interface="PJSIP/101", number=NUMBER)
    failed = await wire.until("OriginateResponse", ActionID=action_id)
    assert (failed.get("Response"), failed.get("Reason")) == ("Failure", "0")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ('"Callback" <+15550104321>', ("Callback", "+15550104321")),
        ("Ann Lee <5550104321>", ("Ann Lee", "5550104321")),
        ("+15550104321", ("", "+15550104321")),
        ("Reception", ("Reception", "")),
    ],
)
def test_an_originate_s_caller_id_is_read_as_asterisk_reads_it(
    text: str, parsed: tuple[str, str]
) -> None:
    assert caller_id(text) == parsed
