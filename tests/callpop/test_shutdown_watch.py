"""A shutdown that takes longer than it should says what it still waits on, once."""

from __future__ import annotations

import asyncio
import logging

import pytest

from callpop.shutdown_watch import watch_shutdown


async def _write_batch(release: asyncio.Event) -> None:
    await release.wait()


async def _stuck_writer(release: asyncio.Event) -> None:
    await _write_batch(release)


async def test_a_slow_shutdown_names_the_task_it_waits_on_and_where(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    stuck = asyncio.create_task(_stuck_writer(release), name="journey-writer")
    caplog.set_level(logging.WARNING, logger="callpop.serve")
    async with watch_shutdown(0.05):
        await asyncio.sleep(0.2)  # the shutdown step waits past the report
        release.set()
        await stuck
    reports = [r.getMessage() for r in caplog.records if "still waiting on" in r.getMessage()]
    assert len(reports) == 1
    # down to the innermost coroutine it awaits, not only the task's own
    assert "journey-writer: wait (locks.py:" in reports[0]
    assert "<- _write_batch (test_shutdown_watch.py:" in reports[0]
    assert "<- _stuck_writer (test_shutdown_watch.py:" in reports[0]


async def test_a_prompt_shutdown_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="callpop.serve")
    async with watch_shutdown(0.2):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # past the report's time: its watcher was cancelled
    assert not [r for r in caplog.records if "still waiting on" in r.getMessage()]
