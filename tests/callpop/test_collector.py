"""serve's garbage collection (callpop/collector.py): startup frozen, young objects
collected on a clock, survivors left to the whole-heap collection."""

from __future__ import annotations

import asyncio
import gc
import re
import weakref
from collections.abc import Iterator

import pytest

from callpop.collector import GARBAGE_SHARE, Collector, full_wait_s


class Node:
    """A cycle's member, weakly referenced to see when the collector frees it."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(b)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def collector(clock: Clock) -> Iterator[Collector]:
    collector = Collector(young_every_s=0.1, full_min_s=60.0, full_max_s=900.0, clock=clock)
    collector.take_over()
    try:
        yield collector
    finally:
        collector.hand_back()


def tracked_in(generation: int, obj: object) -> bool:
    return any(o is obj for o in gc.get_objects(generation))


def test_taking_over_freezes_what_lives_and_stops_automatic_collection(
    collector: Collector,
) -> None:
    assert not gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_handing_back_restores_automatic_collection_over_every_object(clock: Clock) -> None:
    collector = Collector(clock=clock)
    collector.take_over()
    collector.hand_back()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_cycle_dropped_young_is_freed_by_the_next_tick(collector: Collector) -> None:
    a, b = cycle()
    del a
    collector.tick()
    assert b() is None


def test_what_survives_a_tick_is_not_walked_by_the_next_young_collection(
    collector: Collector,
) -> None:
    a, _ = cycle()
    assert tracked_in(0, a)
    collector.tick()
    assert not tracked_in(0, a)
    assert tracked_in(1, a)


def test_a_cycle_dropped_after_surviving_a_tick_waits_for_the_whole_heap(
    collector: Collector, clock: Clock
) -> None:
    a, b = cycle()
    collector.tick()
    del a
    clock.now += 59
    collector.tick()
    assert b() is not None
    clock.now += 1
    collector.tick()
    assert b() is None


def test_the_first_whole_heap_collection_comes_the_shortest_interval_after_taking_over(
    collector: Collector, clock: Clock
) -> None:
    assert collector.full_due == clock.now + 60


def test_old_garbage_found_brings_the_next_whole_heap_collection_sooner(
    collector: Collector, clock: Clock
) -> None:
    cycles = [cycle() for _ in range(50_000)]
    collector.tick()
    del cycles
    clock.now += 60
    collector.tick()
    assert collector.full_due == clock.now + 60  # 100,000 objects a minute: soon again


def test_a_whole_heap_collection_that_found_no_garbage_waits_the_longest() -> None:
    assert full_wait_s(0, 60, 1_000_000, lo=30, hi=900) == 900


def test_the_next_whole_heap_collection_comes_when_the_garbage_expected_is_a_share_of_the_heap() -> (
    None
):
    # 1,000 objects a second found; the heap keeps 400,000: a share of it in 100 s.
    walked = int(1_000 * 100 / GARBAGE_SHARE)
    assert full_wait_s(60_000, 60, walked, lo=30, hi=900) == pytest.approx(100)


def test_the_wait_is_never_shorter_than_the_least_nor_longer_than_the_most() -> None:
    assert full_wait_s(10_000_000, 60, 1_000, lo=30, hi=900) == 30
    assert full_wait_s(1, 60, 10_000_000, lo=30, hi=900) == 900


def test_a_long_whole_heap_pause_is_logged_with_what_it_freed(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    collector = Collector(full_min_s=60.0, clock=clock)
    collector.take_over()
    try:
        a, _ = cycle()
        collector.tick()
        del a
        clock.now += 60
        with caplog.at_level("DEBUG", logger="callpop.collector"):
            collector.tick()
    finally:
        collector.hand_back()
    (line,) = [r.getMessage() for r in caplog.records]
    found = re.fullmatch(
        r"garbage collection: the whole heap in \d+ ms, (\d+) objects freed, \d+ kept; "
        r"the next in 60 s",
        line,
    )
    assert found is not None, line
    assert int(found[1]) >= 2


async def test_started_on_a_loop_it_collects_on_its_own_until_stopped() -> None:
    collector = Collector(young_every_s=0.01)
    collector.start()
    try:
        assert not gc.isenabled()
        a, b = cycle()
        del a
        for _ in range(500):
            if b() is None:
                break
            await asyncio.sleep(0.01)
        assert b() is None
    finally:
        await collector.stop()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


async def test_stopping_a_collector_never_started_changes_nothing() -> None:
    await Collector().stop()
    assert gc.isenabled()
