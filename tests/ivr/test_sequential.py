"""Running the one runner without an event loop (ivr/sequential.py), as the classic
script does."""

from __future__ import annotations

import asyncio

import pytest

from ivr.sequential import SEQUENTIAL, run_to_end


async def _answer(value: int) -> int:
    return value


async def _sum() -> int:
    return await _answer(40) + await _answer(2)


def test_a_coroutine_that_only_awaits_coroutines_runs_to_its_end() -> None:
    assert run_to_end(_sum()) == 42


def test_a_coroutine_that_waits_for_an_event_loop_is_closed_and_reported() -> None:
    closed = []

    async def sleeps() -> None:
        try:
            await asyncio.sleep(0)
        finally:
            closed.append(True)

    with pytest.raises(RuntimeError, match="waited for an event loop"):
        run_to_end(sleeps())
    assert closed == [True]


def test_work_alongside_is_done_before_the_caller_goes_on() -> None:
    done: list[str] = []

    async def store() -> None:
        done.append("stored")

    async def transfer() -> None:
        storing = SEQUENTIAL.alongside(store())
        done.append("prompts played")
        await storing

    run_to_end(transfer())
    assert done == ["stored", "prompts played"]


def test_an_error_of_the_work_alongside_is_raised_where_it_is_awaited() -> None:
    done: list[str] = []

    async def store() -> None:
        raise OSError("disk full")

    async def transfer() -> None:
        storing = SEQUENTIAL.alongside(store())
        done.append("prompts played")
        await storing

    with pytest.raises(OSError, match="disk full"):
        run_to_end(transfer())
    assert done == ["prompts played"]


def test_a_bound_on_a_wait_lets_the_wait_finish() -> None:
    async def bounded() -> int:
        async with SEQUENTIAL.within(0.0):
            return await _answer(7)

    assert run_to_end(bounded()) == 7
