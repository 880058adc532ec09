"""The control relay between instances (callpop/ami/relay.py), on the machine's Redis: an
instance without the AMI lease sends its agent's control through the holder's connection
and gets Asterisk's own answer; with no holder it is refused at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from callpop.ami.client import AMIClient
from callpop.ami.codec import Message
from callpop.ami.controls import AmiControls, ControlRefused
from callpop.ami.relay import ControlRelay
from callpop.pbx_sim.ami import AMIServer
from tests.redis_server import require_machine_redis, unique_key

pytestmark = pytest.mark.redis


def _paused(action: Message) -> list[list[tuple[str, str]]]:
    if action.get("Interface") == "PJSIP/101":
        return [[("Response", "Success"), ("Message", "Interface paused successfully")]]
    return [[("Response", "Error"), ("Message", "Interface not found")]]


async def _ignore(msg: Message) -> None:
    return None


@asynccontextmanager
async def running(relay: ControlRelay) -> AsyncIterator[ControlRelay]:
    task = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(5):
            await relay.listening()
        yield relay
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await relay.aclose()


def relay(key: str, instance: str, client: AMIClient | None) -> ControlRelay:
    return ControlRelay.from_url(
        require_machine_redis(), key=key, label="pbx-east", instance=instance, client=lambda: client
    )


@pytest.fixture
async def pbx() -> AsyncIterator[AMIServer]:
    async with AMIServer(responders={"QueuePause": _paused}) as server:
        yield server


async def test_a_control_on_an_instance_without_the_lease_goes_out_on_the_holders(
    pbx: AMIServer,
) -> None:
    key = unique_key("relay")
    client = AMIClient(pbx.host, pbx.port, "callpop", "callpop", on_event=_ignore)
    task = asyncio.create_task(client.run())
    try:
        async with asyncio.timeout(5):
            await client.wait_connected()
        async with (
            running(relay(key, "holder/1", client)) as holder,
            running(relay(key, "other/2", None)) as other,
        ):
            async with asyncio.timeout(5):
                await holder.sending.wait()
            controls = AmiControls(lambda: None, relay=other)
            await controls.pause(interface="PJSIP/101", paused=True, reason="Lunch")
            (sent,) = await pbx.wait_action("QueuePause")
            assert (sent.get("Interface"), sent.get("Reason")) == ("PJSIP/101", "Lunch")
            # Asterisk's refusal comes back in its own words
            with pytest.raises(ControlRefused) as refused:
                await controls.pause(interface="PJSIP/999", paused=True, reason="Lunch")
            assert str(refused.value) == (
                "changing your status was refused by Asterisk: Interface not found"
            )
    finally:
        await client.close()
        await asyncio.gather(task, return_exceptions=True)
    assert pbx.logins == 1  # one connection to Asterisk: the holder's


async def test_with_no_instance_holding_the_lease_a_control_is_refused_at_once() -> None:
    async with running(relay(unique_key("relay"), "other/2", None)) as other:
        controls = AmiControls(lambda: None, relay=other)
        async with asyncio.timeout(2):  # not the relay's wait for an answer
            with pytest.raises(ControlRefused) as refused:
                await controls.originate(interface="PJSIP/101", number="+15551234567")
    assert str(refused.value) == (
        "calling +15551234567 failed: no callpop instance is connected to Asterisk now; "
        "try again in a moment"
    )
