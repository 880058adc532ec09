"""A value read from a shared store for every caller: at most once per ttl, one read in
flight for all who ask meanwhile, never longer than the budget for any of them, and
the last value read when the store is slow or failing, logged once per change of state
(callpop/cached_read.py; the flood switch and queue state readers are built on it)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from callpop.cached_read import CachedRead, ReadNotes

LOGGER = "tests.cached_read"


class Store:
    """A store the test steers: it counts its reads, holds them while `open` is clear,
    fails them with `error`, and says whether a read was cancelled."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.error: Exception | None = None
        self.reads = 0
        self.cancelled = False
        self.open = asyncio.Event()
        self.open.set()

    async def read(self) -> str:
        self.reads += 1
        try:
            await self.open.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        return self.value


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cached(
    store: Store,
    clock: Clock,
    *,
    budget_s: float = 0.05,
    initial: str = "before any read",
    changes: list[str] | None = None,
    stale_s: float = 0.0,
) -> CachedRead[str]:
    return CachedRead(
        store.read,
        initial=initial,
        notes=ReadNotes(
            logging.getLogger(LOGGER),
            slow="price list read is slower than the lookup budget",
            failed="price list not read",
            recovered="price list read again",
            fallback="callers get the last value read",
        ),
        budget_s=budget_s,
        ttl_s=1.0,
        stale_s=stale_s,
        failures=(OSError,),
        on_change=None if changes is None else changes.append,
        monotonic=clock,
    )


def said(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == LOGGER]


async def test_callers_asking_while_a_read_is_in_flight_share_that_one_read() -> None:
    store, clock = Store("new prices"), Clock()
    reader = cached(store, clock, budget_s=5.0)
    store.open.clear()
    waiting, all_waiting = 0, asyncio.Event()

    async def caller() -> str:
        nonlocal waiting
        waiting += 1
        if waiting == 5:
            all_waiting.set()
        return await reader.read()

    callers = [asyncio.create_task(caller()) for _ in range(5)]
    async with asyncio.timeout(1):
        await all_waiting.wait()
    assert store.reads == 1
    store.open.set()
    assert await asyncio.gather(*callers) == ["new prices"] * 5
    assert store.reads == 1


async def test_the_store_is_read_at_most_once_per_ttl() -> None:
    store, clock = Store("old prices"), Clock()
    reader = cached(store, clock)
    assert await reader.read() == "old prices"
    store.value = "new prices"
    clock.now = 0.9
    assert await reader.read() == "old prices"
    clock.now = 1.0
    assert await reader.read() == "new prices"
    assert store.reads == 2


async def test_a_value_gone_stale_is_answered_at_once_while_a_read_renews_it() -> None:
    store, clock = Store("old prices"), Clock()
    reader = cached(store, clock, budget_s=5.0, stale_s=1.0)
    await reader.read()
    store.value, clock.now = "new prices", 1.5
    store.open.clear()
    async with asyncio.timeout(1):  # the read is held: nobody may wait on it
        assert await reader.read() == "old prices"
        assert await reader.read() == "old prices"
        await asyncio.sleep(0)  # the renewing read's first step
    assert store.reads == 2
    store.open.set()
    for _ in range(100):
        if await reader.read() == "new prices":
            break
        await asyncio.sleep(0.01)
    assert await reader.read() == "new prices"
    assert store.reads == 2


async def test_a_value_older_than_its_stale_time_waits_for_the_read_again() -> None:
    store, clock = Store("old prices"), Clock()
    reader = cached(store, clock, budget_s=5.0, stale_s=1.0)
    await reader.read()
    store.value, clock.now = "new prices", 2.0
    assert await reader.read() == "new prices"


async def test_a_read_slower_than_the_budget_answers_with_the_last_value_read() -> None:
    store, clock = Store("old prices"), Clock()
    reader = cached(store, clock)
    await reader.read()
    store.value, clock.now = "new prices", 5.0
    store.open.clear()
    async with asyncio.timeout(1):
        assert await reader.read() == "old prices"
    await reader.close()


async def test_before_any_read_a_slow_store_answers_the_initial_value() -> None:
    store, clock = Store("prices"), Clock()
    reader = cached(store, clock, initial="no prices yet")
    store.open.clear()
    async with asyncio.timeout(1):
        assert await reader.read() == "no prices yet"
    await reader.close()


async def test_a_read_that_overruns_the_budget_goes_on_and_the_next_caller_joins_it() -> None:
    store, clock = Store("new prices"), Clock()
    reader = cached(store, clock)
    store.open.clear()
    await reader.read()
    await reader.read()
    store.open.set()
    assert await reader.read() == "new prices"
    assert store.reads == 1


async def test_a_slow_store_is_said_once_however_many_callers_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = Store("prices"), Clock()
    reader = cached(store, clock)
    store.open.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in range(3):
            clock.now += 5.0
            await reader.read()
    assert said(caplog) == [
        (
            "WARNING",
            "price list read is slower than the lookup budget; callers get the last value read",
        )
    ]
    await reader.close()


async def test_a_failing_store_answers_with_the_last_value_read() -> None:
    store, clock = Store("old prices"), Clock()
    reader = cached(store, clock)
    await reader.read()
    store.value, store.error, clock.now = "new prices", OSError("connection refused"), 5.0
    assert await reader.read() == "old prices"


async def test_a_failure_is_said_once_and_the_recovery_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = Store("prices"), Clock()
    reader = cached(store, clock)
    store.error = OSError("connection refused\nmore detail")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in range(3):
            clock.now += 5.0
            await reader.read()
        store.error = None
        for _ in range(3):
            clock.now += 5.0
            await reader.read()
    assert said(caplog) == [
        ("WARNING", "price list not read: connection refused; callers get the last value read"),
        ("INFO", "price list read again"),
    ]


async def test_a_failure_without_a_message_is_said_by_its_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = Store("prices"), Clock()
    reader = cached(store, clock)
    store.error = ConnectionResetError()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        await reader.read()
    assert said(caplog) == [
        (
            "WARNING",
            "price list not read: ConnectionResetError(); callers get the last value read",
        )
    ]


async def test_an_error_that_is_not_the_stores_reaches_the_caller() -> None:
    store, clock = Store("prices"), Clock()
    reader = cached(store, clock)
    store.error = ValueError("a bug, not an outage")
    with pytest.raises(ValueError, match="a bug"):
        await reader.read()


async def test_on_change_hears_a_value_only_when_it_differs_from_the_last() -> None:
    store, clock = Store("prices"), Clock()
    changes: list[str] = []
    reader = cached(store, clock, initial="prices", changes=changes)
    await reader.read()
    store.value, clock.now = "new prices", 1.0
    await reader.read()
    clock.now = 2.0
    await reader.read()
    assert changes == ["new prices"]


async def test_close_cancels_the_read_in_flight() -> None:
    store, clock = Store("prices"), Clock()
    reader = cached(store, clock)
    store.open.clear()
    await reader.read()
    closing = asyncio.create_task(reader.close())
    await asyncio.wait([closing], timeout=1)  # unlike asyncio.timeout, cancels nothing
    store.open.set()  # a close that did not cancel the read may end now
    await closing
    assert store.cancelled
