"""Transfers on the virtual PBX on its own (no callpop, no browser): the AMI actions the
panel sends, answered as manager.c answers them, and where the caller goes after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from callpop.ami.client import AMIClient
from callpop.ami.codec import Message
from callpop.ami.controls import AmiControls, ControlRefused
from callpop.demo.pbx import DemoCall, PbxSettings, VirtualPbx
from callpop.demo.phones import AgentPhone, PhoneState
from callpop.demo.prompts import PromptBook
from callpop.pbx_sim.ami import AMIServer
from tests.demo.test_pbx import closed_port

WAIT_S = 10.0  # a bound on each wait, never a synchronisation


@dataclass
class Scene:
    pbx: VirtualPbx
    controls: AmiControls
    frames: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def tell(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)
        self.changed.set()

    async def until(self, condition: Any) -> None:
        async with asyncio.timeout(WAIT_S):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    def phone(self, interface: str, agent: str) -> AgentPhone:
        return self.pbx.phones.register(interface, agent, lambda _view: self.changed.set())

    async def transfer_to_bob(self, call: DemoCall, *, attended: bool) -> None:
        """Alice's panel transfers her call to bob's extension."""
        await self.controls.transfer(
            channel=call.agent_channel or "",
            caller_channel=call.channel,
            exten="102",
            context="callpop-agents",
            attended=attended,
            what="transferring",
        )

    async def talking_to(self, phone: AgentPhone) -> DemoCall:
        """A caller (callpop unreachable: the operator queue) answered on `phone`."""
        call = self.pbx.place_call("+15550104321", "Sean Chen", self.tell)
        await self.until(lambda: phone.state is PhoneState.RINGING)
        call.answer(phone)
        await self.until(lambda: call.agent_channel is not None)
        return call


async def _ignore(msg: Message) -> None:
    return None


@pytest.fixture
async def scene() -> AsyncIterator[Scene]:
    async with AMIServer() as ami:
        pbx = VirtualPbx(
            PbxSettings("127.0.0.1", closed_port()), ami=ami, book=PromptBook({}), queues=None
        )
        client = AMIClient(ami.host, ami.port, "callpop", "callpop", on_event=_ignore)
        task = asyncio.create_task(client.run())
        try:
            async with asyncio.timeout(5):
                await client.wait_connected()
            yield Scene(pbx, AmiControls(lambda: client))
        finally:
            await client.close()
            async with asyncio.timeout(5):
                await task
            await pbx.aclose()


async def test_a_blind_transfer_to_another_agent_rings_their_phone(scene: Scene) -> None:
    alice, bob = scene.phone("PJSIP/101", "alice"), scene.phone("PJSIP/102", "bob")
    scene.pbx.phones.pause("PJSIP/102", "Lunch")  # the operator queue rings alice only
    call = await scene.talking_to(alice)
    await scene.transfer_to_bob(call, attended=False)
    # a Dial, not a queue: bob's break does not stop a transfer to him
    await scene.until(lambda: bob.state is PhoneState.RINGING)
    assert alice.state is PhoneState.IDLE
    assert {"type": "notice", "text": "alice transferred you to bob (102)."} in scene.frames


async def test_a_transfer_to_a_number_ends_the_call_the_demo_has_no_outside_line(
    scene: Scene,
) -> None:
    alice = scene.phone("PJSIP/101", "alice")
    call = await scene.talking_to(alice)
    await scene.controls.transfer(
        channel="",  # only the caller's channel known: Redirect
        caller_channel=call.channel,
        exten="+15557654321",
        context="default",
        attended=False,
        what="transferring",
    )
    await scene.until(lambda: scene.frames[-1].get("state") == "ended")
    assert "no outside line" in scene.frames[-1]["reason"]
    assert alice.state is PhoneState.IDLE


async def test_a_transfer_of_a_channel_that_is_not_talking_is_refused(scene: Scene) -> None:
    scene.phone("PJSIP/101", "alice")
    for attended in (False, True):
        with pytest.raises(ControlRefused, match="Channel specified does not exist"):
            await scene.controls.transfer(
                channel="PJSIP/101-00000099",
                caller_channel="",
                exten="102",
                context="callpop-agents",
                attended=attended,
                what="transferring",
            )


async def test_a_consultation_bob_rejects_leaves_the_caller_with_alice(scene: Scene) -> None:
    alice, bob = scene.phone("PJSIP/101", "alice"), scene.phone("PJSIP/102", "bob")
    scene.pbx.phones.pause("PJSIP/102", "Lunch")
    call = await scene.talking_to(alice)
    await scene.transfer_to_bob(call, attended=True)
    await scene.until(lambda: bob.state is PhoneState.RINGING)
    assert bob.call is not None and bob.call.caller_view()["name"] == "alice (consultation)"
    bob.call.decline(bob)
    await scene.until(lambda: bob.state is PhoneState.IDLE)
    assert alice.state is PhoneState.TALKING and alice.call is call
    assert call.agent_channel is not None  # still bridged with alice
