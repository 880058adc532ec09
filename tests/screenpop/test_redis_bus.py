"""The Redis bus beyond the shared contract (test_bus.py): Redis going away and coming
back, the local buffer's bound, the stream lost, the seq <-> entry id mapping. Each test
runs a `redis-server` of its own, without persistence."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from ivr.ports import CallEvent
from screenpop.bus import BusEvent, EventStream, ReplayGap
from screenpop.redis_bus import RedisBus, entry_id, seq_of
from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis


def event(n: int) -> CallEvent:
    return CallEvent("agent.ringing", f"call-{n}", "2026-11-22T23:21:38.515Z", {"n": n})


async def take(stream: EventStream, count: int, within_s: float = 10) -> list[BusEvent]:
    out: list[BusEvent] = []
    async with asyncio.timeout(within_s):
        async for item in stream:
            out.append(item)
            if len(out) == count:
                break
    return out


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def bus_on(server: RedisServer, **options: object) -> RedisBus:
    client = Redis.from_url(server.url, socket_connect_timeout=0.5)
    return RedisBus(client, block_ms=100, retry_s=0.05, **options)  # type: ignore[arg-type]


async def test_each_seq_is_its_stream_entry_id(redis_server: RedisServer) -> None:
    bus = bus_on(redis_server)
    async with bus.subscribe() as stream:
        for n in range(3):
            bus.publish(event(n))
        got = await take(stream, 3)
    async with Redis.from_url(redis_server.url) as client:
        entries = cast(list[tuple[bytes, Any]], await client.xrange(bus.key))
        ids = [entry for entry, _ in entries]
    assert [entry_id(e.seq) for e in got] == [i.decode() for i in ids]
    assert [seq_of(i) for i in ids] == [e.seq for e in got]
    assert entry_id(1_764_000_000_123_042) == "1764000000123-42"
    await bus.aclose()


async def read_as_the_hub_does(bus: RedisBus, count: int, states: list[bool]) -> list[BusEvent]:
    """Subscribe live, then after a `ReplayGap` from `resume_seq`, as `Hub._consume` does."""
    out: list[BusEvent] = []
    since: int | None = None
    async with asyncio.timeout(15):
        while len(out) < count:
            try:
                async with bus.subscribe(since, on_state=states.append) as stream:
                    async for item in stream:
                        out.append(item)
                        if len(out) == count:
                            break
            except ReplayGap as gap:
                since = gap.resume_seq
    return out


async def test_while_redis_is_down_publishing_neither_waits_nor_raises_and_events_follow_in_order(
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher, reader = bus_on(redis_server), bus_on(redis_server)
    states: list[bool] = []
    try:
        with caplog.at_level(logging.WARNING, logger="screenpop.redis_bus"):
            hub = asyncio.create_task(read_as_the_hub_does(reader, 201, states))
            await asyncio.sleep(0.2)
            publisher.publish(event(0))
            await asyncio.sleep(0.2)
            redis_server.stop()
            for n in range(1, 201):
                publisher.publish(event(n))  # synchronous and immediate: a caller is waiting
                await asyncio.sleep(0.001)
            assert publisher.buffered > 0
            await asyncio.sleep(0.3)
            assert states == [True, False]  # the hub shows "reconnecting"
            redis_server.start()  # without persistence: the stream starts again
            got = await hub
        assert [e.call_id for e in got] == [f"call-{n}" for n in range(201)]  # none twice
        # the reader may see the append before the writer has read Redis's reply to it
        async with asyncio.timeout(5):
            while publisher.buffered:  # noqa: ASYNC110 (a count, not an event)
                await asyncio.sleep(0.01)
        assert publisher.buffered == 0 and states[:3] == [True, False, True]
        assert False not in states[2:]
        down = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(down) == 1  # once per change of state, not per event
    finally:
        await publisher.aclose()
        await reader.aclose()


async def test_past_its_bound_the_buffer_drops_the_oldest_and_counts_them(
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dropped: list[int] = []
    bus = bus_on(redis_server, buffer=5, on_dropped=dropped.append)
    redis_server.stop()
    with caplog.at_level(logging.ERROR, logger="screenpop.redis_bus"):
        for n in range(1, 13):
            bus.publish(event(n))
    assert sum(dropped) == 7 and bus.buffered == 5
    assert len([r for r in caplog.records if "dropping the oldest" in r.getMessage()]) == 1
    redis_server.start()
    reader = bus_on(redis_server)
    await bus.settle(within_s=5)
    assert [e.call_id for e in await reader.replay(0)] == [f"call-{n}" for n in range(8, 13)]
    await bus.aclose()
    await reader.aclose()


async def test_a_stream_lost_with_redis_is_a_gap_and_the_reader_goes_on_in_the_new_one(
    redis_server: RedisServer,
) -> None:
    bus = bus_on(redis_server)
    async with bus.subscribe() as stream:
        bus.publish(event(1))
        [before] = await take(stream, 1)
        # Redis has answered the write too; otherwise the unanswered batch is sent
        # again to the new, empty Redis and call-1 would come first in the new stream
        await bus.settle(within_s=5)
        redis_server.stop()
        redis_server.start()  # no persistence: the stream is gone
        bus.publish(event(2))
        with pytest.raises(ReplayGap) as gap:
            await take(stream, 1)
    assert gap.value.last_seq == before.seq and gap.value.resume_seq == 0
    async with bus.subscribe(since_seq=gap.value.resume_seq) as again:
        [after] = await take(again, 1)
    assert after.call_id == "call-2" and after.seq > before.seq  # seqs never go back
    await bus.aclose()


async def test_a_batch_sent_again_after_a_lost_reply_is_not_appended_twice(
    redis_server: RedisServer,
) -> None:
    bus = bus_on(redis_server)
    payloads = ['{"type":"t","call_id":"c","at":"a","data":{}}'] * 3
    first = await bus._append(keys=[bus.key, f"{bus.key}:pub:x"], args=[1000, 1, *payloads])
    again = await bus._append(keys=[bus.key, f"{bus.key}:pub:x"], args=[1000, 1, *payloads])
    async with Redis.from_url(redis_server.url) as client:
        assert await client.xlen(bus.key) == 3
    assert first == again
    await bus.aclose()
