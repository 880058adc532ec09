"""A FastAGI call leaves no reference cycle behind: reference counting frees it.

`serve` walks its whole heap seldom (callpop/collector.py): a cycle made by a call that
lived past a young collection waits for that walk, so none may be made by the calls."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import uvloop

from ivr.compiled import CompiledFlows

from .harness import MemoryServices, fastagi
from .test_server import PATHS, call, caller

HANGUP_STEPS = range(6)


@pytest.fixture
def cycles_made() -> Iterator[Callable[[], list[object]]]:
    """After the test's code ran with automatic collection off: the cyclic garbage it
    left, as a list."""
    found: list[object] = []
    gc.collect()
    gc.disable()

    def collect() -> list[object]:
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found.extend(gc.garbage)
        return found

    try:
        yield collect
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        found.clear()
        gc.enable()


def calls_on_every_path(
    sample_flows: CompiledFlows, collect: Callable[[], list[object]]
) -> Callable[[], Coroutine[Any, Any, list[object]]]:
    async def main() -> list[object]:
        services = MemoryServices()
        async with fastagi(sample_flows, services) as server:
            await call(server, caller("1 2"))  # first-call caches
            gc.collect()
            for keys in PATHS:
                await call(server, caller(keys))
                for step in HANGUP_STEPS:
                    await call(server, caller(keys, hangup_on_command=step))
            return collect()

    return main


def test_on_uvloop_as_serve_runs_a_call_ended_either_way_leaves_no_cycle(
    sample_flows: CompiledFlows, cycles_made: Callable[[], list[object]]
) -> None:
    garbage = uvloop.run(calls_on_every_path(sample_flows, cycles_made)())
    assert [type(o).__qualname__ for o in garbage] == []


def test_on_plain_asyncio_the_only_cycle_is_the_socket_transports_own(
    sample_flows: CompiledFlows, cycles_made: Callable[[], list[object]]
) -> None:
    # asyncio's selector transport keeps a bound method of itself (its read callback):
    # one cycle per connection, at either end (the simulated Asterisk's too).
    garbage = asyncio.run(calls_on_every_path(sample_flows, cycles_made)())
    kinds = {type(o).__qualname__ for o in garbage}
    assert kinds <= {
        "_SelectorSocketTransport",
        "TransportSocket",
        "socket",
        "method",
        "dict",
        "tuple",
    }
    transports = sum(type(o).__qualname__ == "_SelectorSocketTransport" for o in garbage)
    assert transports == 2 * len(PATHS) * (1 + len(HANGUP_STEPS))
