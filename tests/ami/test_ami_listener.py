"""AMI simulator -> listener (client, triggers) -> pop bus, over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from callpop.ami.codec import encode_message
from callpop.ami.listener import UNREAD_SAMPLE, AMIListener
from callpop.ami_filter import READS as AMI_READS
from callpop.config import AmiSettings
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import QueueCall
from screenpop.bus import InProcessBus

from .scripted import queue_call as _queue_call
from .scripted import take


def queue_call(call_id: str, uid: str) -> QueueCall:
    return _queue_call(call_id, uid, caller_name='Zoë "Z" O\\\'Brien')


@pytest.fixture
async def sim() -> AsyncIterator[AMIServer]:
    async with AMIServer(username="callpop", secret="pw") as server:
        yield server


@pytest.fixture
async def bus() -> InProcessBus:
    return InProcessBus()


@pytest.fixture
async def listener(sim: AMIServer, bus: InProcessBus) -> AsyncIterator[AMIListener]:
    settings = AmiSettings(host=sim.host, port=sim.port, username="callpop", secret="pw")
    async with AMIListener.from_settings(
        settings, bus.publish, backoff_initial=0.01, backoff_max=0.05
    ) as running:
        async with asyncio.timeout(5):
            await running.client.wait_connected()
        yield running


async def test_an_agent_rung_by_the_queue_reaches_the_bus_as_call_events(
    sim: AMIServer, bus: InProcessBus, listener: AMIListener
) -> None:
    assert sim.actions[0]["Events"] == "call,agent"
    call = queue_call("call-42", "1800000000.7")
    async with bus.subscribe(since_seq=0) as stream:
        sim.emit(call.joined() + call.agent_called())
        joined, ringing = await take(stream, 2)
    assert (joined.seq, joined.type, joined.call_id) == (1, "queue.joined", "call-42")
    assert (ringing.seq, ringing.type, ringing.call_id) == (2, "agent.ringing", "call-42")
    assert dict(ringing.data) == {
        "queue": "sales",
        "interface": "PJSIP/101",
        "member_name": "Bob Agent",
        # the `ami:` entry's label (no `name`: host:port), what a resync of it may end
        "pbx": f"{sim.host}:{sim.port}",
    }


async def test_events_seen_again_after_a_reconnect_are_not_published_twice(
    sim: AMIServer, bus: InProcessBus, listener: AMIListener
) -> None:
    call = queue_call("call-42", "1800000000.7")
    events = call.joined() + call.agent_called()
    async with bus.subscribe(since_seq=0) as stream:
        sim.emit(events)
        assert [e.type for e in await take(stream, 2)] == ["queue.joined", "agent.ringing"]
        sim.drop()
        async with asyncio.timeout(5):
            await sim.wait_logins(2)
        assert sim.listeners == 1
        other = queue_call("call-43", "1800000000.9")
        sim.emit(events + other.joined())  # the same events again, then a new call
        [after] = await take(stream, 1)
    assert (after.seq, after.type, after.call_id) == (3, "queue.joined", "call-43")
    assert listener.published == 3


def device_states(count: int) -> list[bytes]:
    """What a real Asterisk sends every AMI user with `read = call` and no eventfilter."""
    return [
        encode_message([("Event", "DeviceStateChange"), ("Device", "PJSIP/101"), ("State", s)])
        for s in ("INUSE", "NOT_INUSE") * (count // 2)
    ]


@pytest.fixture
async def reading(sim: AMIServer, bus: InProcessBus) -> AsyncIterator[AMIListener]:
    """A listener told what callpop reads, logged in."""
    settings = AmiSettings(host=sim.host, port=sim.port, username="callpop", secret="pw")
    async with AMIListener.from_settings(
        settings, bus.publish, reads=AMI_READS, backoff_initial=0.01, backoff_max=0.05
    ) as running:
        async with asyncio.timeout(5):
            await running.client.wait_connected()
        yield running


async def test_an_asterisk_sending_mostly_unread_events_is_named_once_with_the_remedy(
    sim: AMIServer, bus: InProcessBus, reading: AMIListener, caplog: pytest.LogCaptureFixture
) -> None:
    call = queue_call("call-42", "1800000000.7")
    async with bus.subscribe(since_seq=0) as stream:
        sim.emit(device_states(UNREAD_SAMPLE * 2) + call.joined())
        await take(stream, 1)
    advice = [r.getMessage() for r in caplog.records if "eventfilter" in r.getMessage()]
    assert len(advice) == 1
    assert f"{UNREAD_SAMPLE} of the first {UNREAD_SAMPLE} events" in advice[0]
    assert "[callpop]" in advice[0]


async def test_an_asterisk_sending_what_callpop_reads_is_not_warned_about(
    sim: AMIServer, bus: InProcessBus, reading: AMIListener, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [queue_call(f"call-{n}", f"1800000000.{n}") for n in range(UNREAD_SAMPLE)]
    async with bus.subscribe(since_seq=0) as stream:
        sim.emit([event for c in calls for event in c.joined()] + device_states(10))
        await take(stream, UNREAD_SAMPLE)
    assert not [r for r in caplog.records if "eventfilter" in r.getMessage()]
