"""The pop bus contract, for the in-process bus and the Redis stream bus alike:
numbering, replay then live, gaps, bounded subscribers. Seqs are compared with each
other, never with literals: the Redis bus's are not contiguous (screenpop/redis_bus.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from ivr.ports import CallEvent
from screenpop.bus import (
    BusClosed,
    BusEvent,
    EventStream,
    InProcessBus,
    PopBus,
    ReplayGap,
    SubscriberOverflow,
)
from screenpop.redis_bus import RedisBus
from tests.redis_server import require_machine_redis, unique_key

MakeBus = Callable[..., "InProcessBus | RedisBus"]


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


async def settle(bus: PopBus) -> None:
    """What was published is numbered: at once in process, once appended for Redis."""
    if isinstance(bus, RedisBus):
        await bus.settle()


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[MakeBus]:
    """`make_bus(retain=, queue_size=)`: a bus of the kind under test."""
    made: list[RedisBus] = []

    def make(*, retain: int = 10_000, queue_size: int = 1_000) -> InProcessBus | RedisBus:
        if request.param == "in-process":
            return InProcessBus(retain=retain, queue_size=queue_size)
        bus = RedisBus(
            Redis.from_url(url),
            key=unique_key(),
            maxlen=retain,
            queue_size=queue_size,
            block_ms=100,
        )
        made.append(bus)
        return bus

    if request.param == "redis":
        url = require_machine_redis()
    yield make
    for bus in made:
        keys = [bus.key]
        await bus.aclose()
        async with Redis.from_url(url) as client:
            keys += [k async for k in client.scan_iter(match=f"{bus.key}:*")]
            await client.delete(*keys)


async def published(bus: PopBus, count: int, first: int = 1) -> list[int]:
    """Publish `count` events and return their seqs, oldest first."""
    async with bus.subscribe() as stream:
        for n in range(first, first + count):
            bus.publish(event(n))
        return [e.seq for e in await take(stream, count)]


async def test_publish_numbers_events_in_a_single_increasing_sequence(make_bus: MakeBus) -> None:
    bus = make_bus()
    seqs = await published(bus, 5)
    assert len(seqs) == 5 and seqs == sorted(set(seqs)) and seqs[0] >= 1
    assert bus.last_seq == seqs[-1]
    first = (await bus.replay(0))[0]
    assert (first.type, first.call_id, first.at, dict(first.data)) == (
        "agent.ringing",
        "call-1",
        "2026-11-22T23:21:38.515Z",
        {"n": 1},
    )


async def test_the_envelope_is_seq_type_call_id_at_data(make_bus: MakeBus) -> None:
    bus = make_bus()
    async with bus.subscribe() as stream:
        bus.publish(event(1, "queue.joined"))
        [out] = await take(stream, 1)
    assert out.as_dict() == {
        "seq": out.seq,
        "type": "queue.joined",
        "call_id": "call-1",
        "at": "2026-11-22T23:21:38.515Z",
        "data": {"n": 1},
    }


async def test_subscribe_since_replays_what_followed_then_goes_live_without_gap_or_repeat(
    make_bus: MakeBus,
) -> None:
    bus = make_bus()
    seqs = await published(bus, 5)
    async with bus.subscribe(since_seq=seqs[2]) as stream:
        later = [e.seq for e in await take(stream, 2)]
        bus.publish(event(6))
        bus.publish(event(7))
        got = later + [e.seq for e in await take(stream, 2)]
    assert got[:2] == seqs[3:] and got == sorted(set(got)) and len(got) == 4


async def test_subscribe_without_since_gets_only_live_events(make_bus: MakeBus) -> None:
    bus = make_bus()
    bus.publish(event(1))
    async with bus.subscribe() as stream:
        bus.publish(event(2))
        got = await take(stream, 1)
    assert [e.call_id for e in got] == ["call-2"]


async def test_a_waiting_subscriber_wakes_when_an_event_is_published(make_bus: MakeBus) -> None:
    bus = make_bus()
    async with bus.subscribe() as stream:
        waiting = asyncio.create_task(take(stream, 1))
        await asyncio.sleep(0.05)  # let it park on the empty queue
        assert not waiting.done()
        bus.publish(event(1))
        assert [e.call_id for e in await waiting] == ["call-1"]


async def test_replay_returns_the_retained_events_after_since(make_bus: MakeBus) -> None:
    bus = make_bus()
    seqs = await published(bus, 3)
    assert [e.seq for e in await bus.replay(seqs[0])] == seqs[1:]
    assert list(await bus.replay(seqs[2])) == []


async def test_replay_past_the_retention_is_a_gap_and_says_where_to_go_on(
    make_bus: MakeBus,
) -> None:
    bus = make_bus(retain=100)  # Redis trims `MAXLEN ~`: by whole nodes of 100 entries
    seqs: list[int] = []
    for first in range(1, 451, 50):  # in rounds, so the reader keeps up with the trimming
        seqs += await published(bus, 50, first)
    with pytest.raises(ReplayGap, match="no longer retained") as gap:
        await bus.replay(0)
    assert (gap.value.last_seq, gap.value.head_seq) == (0, seqs[-1])
    assert gap.value.resume_seq in seqs
    # what is still retained follows the resume point, without a hole up to the head
    expected = seqs[seqs.index(gap.value.resume_seq) + 1 :]
    async with bus.subscribe(since_seq=gap.value.resume_seq) as stream:
        assert [e.seq for e in await take(stream, len(expected))] == expected
    with pytest.raises(ReplayGap):
        async with bus.subscribe(since_seq=seqs[0]) as stale:
            await take(stale, 1)


async def test_a_seq_ahead_of_the_bus_is_a_gap_not_an_empty_replay(make_bus: MakeBus) -> None:
    bus = make_bus()
    seqs = await published(bus, 1)
    with pytest.raises(ReplayGap, match="ahead of this bus") as gap:
        await bus.replay(seqs[0] + 500)
    assert gap.value.resume_seq == 0  # nothing was trimmed yet: everything is retained


async def test_a_slow_subscriber_never_blocks_publish_and_is_told_it_fell_behind(
    make_bus: MakeBus,
) -> None:
    bus = make_bus(queue_size=10)
    async with bus.subscribe() as slow, bus.subscribe() as fast:
        start = slow.last_seq
        received: list[str] = []
        for n in range(1, 26):
            bus.publish(event(n))  # synchronous: nothing to wait on
            received.extend(e.call_id for e in await take(fast, 1))
        assert received == [f"call-{n}" for n in range(1, 26)]
        with pytest.raises(SubscriberOverflow) as overflow:
            await take(slow, 1)
        assert bus.subscriber_count == 1  # the slow one was cut off, not kept growing
        assert overflow.value.last_seq == start and overflow.value.head_seq > start
        # the hub resyncs it from where it was, as long as the bus still retains that
        async with bus.subscribe(since_seq=overflow.value.last_seq) as again:
            assert [e.call_id for e in await take(again, 25)] == received


async def test_a_subscriber_that_reads_in_time_is_never_cut_off(make_bus: MakeBus) -> None:
    bus = make_bus(queue_size=2)
    async with bus.subscribe() as stream:
        for n in range(1, 30):
            bus.publish(event(n))
            bus.publish(event(n))
            assert len(await take(stream, 2)) == 2


async def test_leaving_the_context_unsubscribes(make_bus: MakeBus) -> None:
    bus = make_bus()
    with pytest.raises(RuntimeError):
        async with bus.subscribe():
            assert bus.subscriber_count == 1
            raise RuntimeError("hub crashed")
    assert bus.subscriber_count == 0


async def test_closing_the_bus_ends_every_subscription_and_refuses_new_events(
    make_bus: MakeBus,
) -> None:
    bus = make_bus()
    async with bus.subscribe() as stream:
        waiting = asyncio.create_task(take(stream, 1))
        await asyncio.sleep(0.05)
        bus.close()
        assert await waiting == []
    with pytest.raises(BusClosed):
        bus.publish(event(1))
    with pytest.raises(BusClosed):
        bus.subscribe()


async def test_nonsense_limits_are_refused(make_bus: MakeBus) -> None:
    with pytest.raises(ValueError, match="positive"):
        make_bus(queue_size=0)
    with pytest.raises(ValueError, match=">= 0"):
        make_bus().subscribe(since_seq=-1)


# --- the in-process bus only ---------------------------------------------------------


async def test_in_process_numbers_from_one_without_holes() -> None:
    bus = InProcessBus()
    assert await published(bus, 3) == [1, 2, 3]


async def test_in_process_every_subscriber_gets_the_same_event_object_not_a_copy() -> None:
    bus = InProcessBus()
    streams = [bus.subscribe() for _ in range(3)]
    bus.publish(event(1))
    [out] = await bus.replay(0)
    for stream in streams:
        [got] = await take(stream, 1)
        assert got is out
        stream.close()


async def test_in_process_events_older_than_the_retention_age_are_not_replayed() -> None:
    now = [1000.0]
    bus = InProcessBus(retain_s=60, clock=lambda: now[0])
    bus.publish(event(1))
    now[0] += 30
    bus.publish(event(2))
    now[0] += 45  # the first is 75 s old, the second 45 s
    assert [e.seq for e in await bus.replay(1)] == [2]
    with pytest.raises(ReplayGap, match=r"events 1\.\.1 are no longer retained"):
        await bus.replay(0)
    assert bus.first_retained_seq == 2
