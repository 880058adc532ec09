"""Call controls over AMI (no ARI): the actions on the wire at the AMI simulator, and
Asterisk's refusals turned into a message for the agent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from callpop.ami.client import AMIClient
from callpop.ami.codec import Message
from callpop.ami.controls import AmiControls, ControlRefused
from callpop.pbx_sim.ami import AMIServer


async def _noop(msg: Message) -> None:
    return None


def _queued(action: Message) -> list[list[tuple[str, str]]]:
    return [[("Response", "Success"), ("Message", "Originate successfully queued")]]


def _paused(action: Message) -> list[list[tuple[str, str]]]:
    return [[("Response", "Success"), ("Message", "Interface paused successfully")]]


def _no_member(action: Message) -> list[list[tuple[str, str]]]:
    return [[("Response", "Error"), ("Message", "Interface not found")]]


def _denied(action: Message) -> list[list[tuple[str, str]]]:
    return [[("Response", "Error"), ("Message", "Permission denied")]]


@pytest.fixture
async def sim() -> AsyncIterator[AMIServer]:
    async with AMIServer(responders={"Originate": _queued, "QueuePause": _paused}) as server:
        yield server


@pytest.fixture
async def client(sim: AMIServer) -> AsyncIterator[AMIClient]:
    ami = AMIClient(sim.host, sim.port, "callpop", "callpop", on_event=_noop)
    task = asyncio.create_task(ami.run())
    async with asyncio.timeout(5):
        await ami.wait_connected()
    yield ami
    await ami.close()
    async with asyncio.timeout(5):
        await task


async def test_click_to_dial_originates_from_the_agents_interface(
    sim: AMIServer, client: AMIClient
) -> None:
    controls = AmiControls(lambda: client, context="agents")
    action_id = await controls.originate(interface="PJSIP/alice", number="+441632960001")
    (sent,) = await sim.wait_action("Originate")
    assert sent.action_id == action_id and action_id.startswith("callpop-")
    assert sent.get("Channel") == "PJSIP/alice"
    assert (sent.get("Context"), sent.get("Exten"), sent.get("Priority")) == (
        "agents",
        "+441632960001",
        "1",
    )
    assert sent.get("Async") == "true"


async def test_a_break_is_a_queue_pause_with_its_reason(sim: AMIServer, client: AMIClient) -> None:
    controls = AmiControls(lambda: client)
    await controls.pause(interface="PJSIP/alice", paused=True, reason="Lunch")
    (sent,) = await sim.wait_action("QueuePause")
    assert sent.action_id is not None
    assert (sent.get("Interface"), sent.get("Paused"), sent.get("Reason")) == (
        "PJSIP/alice",
        "true",
        "Lunch",
    )
    assert sent.get("Queue") is None  # every queue the agent is a member of


async def test_ready_unpauses_without_a_reason(sim: AMIServer, client: AMIClient) -> None:
    await AmiControls(lambda: client).pause(interface="PJSIP/alice", paused=False)
    (sent,) = await sim.wait_action("QueuePause")
    assert (sent.get("Paused"), sent.get("Reason")) == ("false", None)


async def test_permission_denied_reaches_the_agent_as_a_message(
    sim: AMIServer, client: AMIClient
) -> None:
    sim.responders["Originate"] = _denied
    with pytest.raises(ControlRefused, match="calling 123 was refused by Asterisk: Permission"):
        await AmiControls(lambda: client).originate(interface="PJSIP/alice", number="123")


async def test_a_pause_of_an_interface_in_no_queue_is_refused_with_asterisks_reason(
    sim: AMIServer, client: AMIClient
) -> None:
    sim.responders["QueuePause"] = _no_member
    with pytest.raises(ControlRefused, match="Interface not found"):
        await AmiControls(lambda: client).pause(interface="PJSIP/nobody", paused=True)


async def test_without_the_ami_lease_a_control_is_refused_with_why() -> None:
    with pytest.raises(ControlRefused, match="another instance"):
        await AmiControls(lambda: None).pause(interface="PJSIP/alice", paused=True)
