"""Say what a shutdown is waiting for when it takes longer than it should.

`serve` stops in steps (drivers drained, AMI and bus tasks cancelled, journeys and
buffered events written, connections closed); one that never ends leaves a process
that ignores SIGTERM until the supervisor kills it, with nothing in the log to say why.
`watch_shutdown` logs, once, every task still pending after `after_s` with where it
waits, so the next occurrence names its culprit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from types import FrameType
from typing import Any

__all__ = ["pending_tasks", "watch_shutdown"]

log = logging.getLogger("callpop.serve")


def _awaiting(task: asyncio.Task[object]) -> list[FrameType]:
    """The frames of the chain of coroutines the task awaits, outermost first
    (`Task.get_stack` gives only the outermost of a suspended task)."""
    frames: list[FrameType] = []
    step: Any = task.get_coro()
    while step is not None and len(frames) < 50:
        # a coroutine awaits another, or a generator-based awaitable (`yield from`); the
        # chain ends at a Future, which has no frame
        frame = getattr(step, "cr_frame", None) or getattr(step, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        step = getattr(step, "cr_await", None) or getattr(step, "gi_yieldfrom", None)
    return frames


def pending_tasks(exclude: set[asyncio.Task[object]]) -> list[str]:
    """One line per pending task: its name and the innermost frames it waits in."""
    lines = []
    for task in asyncio.all_tasks():
        if task in exclude or task.done():
            continue
        where = " <- ".join(
            f"{f.f_code.co_name} ({f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_lineno})"
            for f in reversed(_awaiting(task)[-6:])
        )
        lines.append(f"{task.get_name()}: {where or 'not started'}")
    return sorted(lines)


@contextlib.asynccontextmanager
async def watch_shutdown(after_s: float) -> AsyncIterator[None]:
    current = asyncio.current_task()

    async def report() -> None:
        await asyncio.sleep(after_s)
        watcher = asyncio.current_task()
        exclude = {t for t in (current, watcher) if t is not None}
        log.warning(
            "shutting down for %.0f s; still waiting on:\n  %s",
            after_s,
            "\n  ".join(pending_tasks(exclude)) or "(no task: a blocking call)",
        )

    watcher = asyncio.create_task(report(), name="shutdown-watch")
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
