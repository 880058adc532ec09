"""The in-process pop bus: numbering, replay then live, bounded subscribers."""

from __future__ import annotations

import asyncio

import pytest

from ivr.ports import CallEvent
from screenpop.bus import (
    BusClosed,
    BusEvent,
    EventStream,
    InProcessBus,
    ReplayGap,
    SubscriberOverflow,
)


def event(n: int, type_: str = "agent.ringing") -> CallEvent:
    return CallEvent(type_, f"call-{n}", "2026-11-22T23:21:38.515Z", {"n": n})


async def take(stream: EventStream, count: int) -> list[BusEvent]:
    out: list[BusEvent] = []
    async with asyncio.timeout(5):
        async for item in stream:
            out.append(item)
            if len(out) == count:
                break
    return out


async def test_publish_numbers_events_from_one_in_a_single_increasing_sequence() -> None:
    bus = InProcessBus()
    for n in range(5):
        bus.publish(event(n))
    published = await bus.replay(0)
    assert [e.seq for e in published] == [1, 2, 3, 4, 5]
    assert bus.last_seq == 5
    first = published[0]
    assert (first.type, first.call_id, first.at, dict(first.data)) == (
        "agent.ringing", "call-0", "2026-11-22T23:21:38.515Z", {"n": 0})


async def test_the_envelope_is_seq_type_call_id_at_data() -> None:
    bus = InProcessBus()
    async with bus.subscribe() as stream:
        bus.publish(event(1, "queue.joined"))
        [out] = await take(stream, 1)
    assert out.as_dict() == {"seq": 1, "type": "queue.joined", "call_id": "call-1",
                             "at": "2026-11-22T23:21:38.515Z", "data": {"n": 1}}


async def test_subscribe_since_replays_what_followed_then_goes_live_without_gap_or_repeat() -> None:
    bus = InProcessBus()
    for n in range(1, 6):
        bus.publish(event(n))
    async with bus.subscribe(since_seq=3) as stream:
        for n in range(6, 8):
            bus.publish(event(n))
        got = await take(stream, 4)
    assert [e.seq for e in got] == [4, 5, 6, 7]


async def test_subscribe_without_since_gets_only_live_events() -> None:
    bus = InProcessBus()
    bus.publish(event(1))
    async with bus.subscribe() as stream:
        bus.publish(event(2))
        got = await take(stream, 1)
    assert [e.seq for e in got] == [2]


async def test_a_waiting_subscriber_wakes_when_an_event_is_published() -> None:
    bus = InProcessBus()
    async with bus.subscribe() as stream:
        waiting = asyncio.create_task(take(stream, 1))
        await asyncio.sleep(0)  # let it park on the empty queue
        assert not waiting.done()
        bus.publish(event(1))
        assert [e.seq for e in await waiting] == [1]


async def test_every_subscriber_gets_the_same_event_object_not_a_copy() -> None:
    bus = InProcessBus()
    streams = [bus.subscribe() for _ in range(3)]
    bus.publish(event(1))
    [published] = await bus.replay(0)
    for stream in streams:
        [got] = await take(stream, 1)
        assert got is published
        stream.close()


async def test_replay_returns_the_retained_events_after_since() -> None:
    bus = InProcessBus()
    for n in range(1, 4):
        bus.publish(event(n))
    assert [e.seq for e in await bus.replay(1)] == [2, 3]
    assert await bus.replay(3) == ()


async def test_replay_past_the_retention_count_is_a_gap_to_resync() -> None:
    bus = InProcessBus(retain=3)
    for n in range(1, 8):
        bus.publish(event(n))
    assert [e.seq for e in await bus.replay(4)] == [5, 6, 7]
    with pytest.raises(ReplayGap, match=r"events 2\.\.4 are no longer retained") as gap:
        await bus.replay(1)
    assert (gap.value.last_seq, gap.value.head_seq) == (1, 7)
    with pytest.raises(ReplayGap):
        bus.subscribe(since_seq=1)


async def test_events_older_than_the_retention_age_are_not_replayed() -> None:
    now = [1000.0]
    bus = InProcessBus(retain_s=60, clock=lambda: now[0])
    bus.publish(event(1))
    now[0] += 30
    bus.publish(event(2))
    now[0] += 45  # the first is 75 s old, the second 45 s
    assert [e.seq for e in await bus.replay(1)] == [2]
    with pytest.raises(ReplayGap):
        await bus.replay(0)
    assert bus.first_retained_seq == 2


async def test_a_seq_from_another_bus_is_a_gap_not_an_empty_replay() -> None:
    bus = InProcessBus()
    bus.publish(event(1))
    with pytest.raises(ReplayGap, match="ahead of this bus"):
        await bus.replay(500)


async def test_a_slow_subscriber_never_blocks_publish_and_is_told_it_fell_behind() -> None:
    bus = InProcessBus(queue_size=10)
    slow = bus.subscribe()
    fast = bus.subscribe()
    received: list[int] = []
    for n in range(1, 26):
        bus.publish(event(n))  # synchronous: nothing to wait on
        received.extend(e.seq for e in await take(fast, 1))
    assert received == list(range(1, 26))
    assert bus.subscriber_count == 1  # the slow one was cut off, not kept growing
    with pytest.raises(SubscriberOverflow) as overflow:
        await take(slow, 1)
    assert (overflow.value.last_seq, overflow.value.head_seq) == (0, 25)
    # the hub resyncs it from where it was, as long as the bus still retains that
    async with bus.subscribe(since_seq=overflow.value.last_seq) as again:
        assert [e.seq for e in await take(again, 25)] == list(range(1, 26))
    fast.close()


async def test_a_subscriber_that_reads_in_time_is_never_cut_off() -> None:
    bus = InProcessBus(queue_size=2)
    async with bus.subscribe() as stream:
        for n in range(1, 50):
            bus.publish(event(n))
            bus.publish(event(n))
            assert len(await take(stream, 2)) == 2


async def test_leaving_the_context_unsubscribes() -> None:
    bus = InProcessBus()
    with pytest.raises(RuntimeError):
        async with bus.subscribe():
            assert bus.subscriber_count == 1
            raise RuntimeError("hub crashed")
    assert bus.subscriber_count == 0


async def test_closing_the_bus_ends_every_subscription_and_refuses_new_events() -> None:
    bus = InProcessBus()
    stream = bus.subscribe()
    waiting = asyncio.create_task(take(stream, 1))
    await asyncio.sleep(0)
    bus.close()
    assert await waiting == []
    with pytest.raises(BusClosed):
        bus.publish(event(1))
    with pytest.raises(BusClosed):
        bus.subscribe()


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        InProcessBus(queue_size=0)
    with pytest.raises(ValueError, match=">= 0"):
        InProcessBus().subscribe(since_seq=-1)
