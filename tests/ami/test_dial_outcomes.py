"""What became of a click-to-dial, over the AMI simulator's socket: the `Originate` is
queued at once; the `OriginateResponse` that follows with its ActionID becomes one
`agent.dial` event naming the agent's phone and the outcome (callpop/ami/dials.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callpop.ami.client import AMIClient
from callpop.ami.codec import Decoder, Message
from callpop.ami.controls import DIAL_CONTEXT, AmiControls
from callpop.ami.dials import DIAL_EVENT, DialOutcomes
from callpop.pbx_sim.ami import AMIServer, read_transcript, transcript_events
from callpop.pbx_sim.ami_originate import Originations
from ivr.ports import CallEvent

AMI_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "ami"


class Followed:
    """The AMI client's events through `DialOutcomes`, and what it published."""

    def __init__(self) -> None:
        self.events: list[CallEvent] = []
        self.outcomes = DialOutcomes(self.events.append, context=DIAL_CONTEXT)
        self._arrived = asyncio.Event()

    async def on_event(self, message: Message) -> None:
        self.outcomes.feed(message)
        self._arrived.set()

    async def published(self, count: int = 1) -> list[CallEvent]:
        async with asyncio.timeout(5):
            while len(self.events) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.events


@pytest.fixture
def calls() -> Originations:
    return Originations()


@pytest.fixture
async def sim(calls: Originations) -> AsyncIterator[AMIServer]:
    async with AMIServer(answers=[calls]) as server:
        yield server


@pytest.fixture
def followed() -> Followed:
    return Followed()


@pytest.fixture
async def controls(sim: AMIServer, followed: Followed) -> AsyncIterator[AmiControls]:
    client = AMIClient(sim.host, sim.port, "callpop", "callpop", on_event=followed.on_event)
    task = asyncio.create_task(client.run())
    async with asyncio.timeout(5):
        await client.wait_connected()
    yield AmiControls(lambda: client)
    await client.close()
    async with asyncio.timeout(5):
        await task


async def _dial(controls: AmiControls, calls: Originations) -> tuple[str, str]:
    """Click-to-dial from alice's phone; (the dial's ActionID, the agent leg's id)."""
    action_id = await controls.originate(interface="PJSIP/101", number="+15551234567")
    (placed,) = calls.placed
    return action_id, placed.channel_id


@pytest.mark.parametrize(
    ("reason", "outcome"), [("0", "offline"), ("3", "no_answer"), ("5", "busy")]
)
async def test_a_phone_that_does_not_take_the_call_is_told_with_why(
    sim: AMIServer,
    calls: Originations,
    controls: AmiControls,
    followed: Followed,
    reason: str,
    outcome: str,
) -> None:
    action_id, leg = await _dial(controls, calls)
    sim.emit(calls.agent_does_not_answer(leg, reason))
    (event,) = await followed.published()
    assert (event.type, event.call_id) == (DIAL_EVENT, action_id)
    assert event.data == {
        "interface": "PJSIP/101",
        "number": "+15551234567",
        "outcome": outcome,
        "reason": reason,
    }


async def test_an_answered_phone_is_connected_and_names_the_agents_device(
    sim: AMIServer, calls: Originations, controls: AmiControls, followed: Followed
) -> None:
    action_id, leg = await _dial(controls, calls)
    sim.emit(calls.agent_answers(leg))
    (event,) = await followed.published()
    assert event.call_id == action_id
    # the Success names the new channel (PJSIP/101-0000000a): the event its device
    assert (event.data["interface"], event.data["outcome"]) == ("PJSIP/101", "connected")


async def test_a_callbacks_originate_response_is_not_a_click_to_dial(
    sim: AMIServer, calls: Originations, controls: AmiControls, followed: Followed
) -> None:
    await controls.place_callback(
        interface="PJSIP/101",
        number="+15551234567",
        context="callpop-callback",
        channel_id="callback-1-1",
        ring_s=20,
    )
    sim.emit(calls.agent_does_not_answer("callback-1-1", "3"))
    # a click-to-dial after it: the only event published is the click-to-dial's
    action_id = await controls.originate(interface="PJSIP/101", number="+15550000000")
    sim.emit(calls.agent_does_not_answer(calls.placed[-1].channel_id, "5"))
    (event,) = await followed.published()
    assert (event.call_id, event.data["number"]) == (action_id, "+15550000000")


def recorded_responses(name: str) -> list[Message]:
    """The OriginateResponse events of a session recorded on a live Asterisk 22.10.1."""
    decoder = Decoder(expect_banner=False)
    for frame in transcript_events(read_transcript(AMI_FIXTURES / name)):
        decoder.receive_data(frame)
    return [m for m in decoder if isinstance(m, Message) and m.event == "OriginateResponse"]


def test_a_phone_that_is_offline_or_absent_on_a_live_asterisk_is_told_offline() -> None:
    events: list[CallEvent] = []
    outcomes = DialOutcomes(events.append, context="default")
    for message in [
        *recorded_responses("originate-offline.txt"),
        *recorded_responses("originate-outcomes.txt"),
    ]:
        outcomes.feed(message)
    told = [(e.call_id, e.data["interface"], e.data["outcome"]) for e in events]
    assert told == [
        ("callpop-2", "PJSIP/102", "offline"),  # registered once, its soft phone gone
        ("callpop-2", "PJSIP/103", "offline"),  # no such endpoint
        ("callpop-3", "PJSIP/101", "connected"),  # the new channel's device
    ]
