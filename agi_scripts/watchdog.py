"""One timer for the waits of every call: deadlines without a timer per AGI command.

Each call waits on Asterisk about a dozen times. An `asyncio.timeout` per wait costs a
timer handle pushed on and cancelled from the loop's heap each time; here a wait only
notes its deadline in a dict, and one sweep every `period` seconds expires those past
due. Deadlines are seconds long, so a quarter second of lateness changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

__all__ = ["Expirable", "Watchdog"]


class Expirable(Protocol):
    def expire(self) -> None:
        """The wait is past its deadline: end it (abort the transport)."""
        ...


class Watchdog:
    def __init__(self, period: float = 0.25) -> None:
        self.period = period
        self._waits: dict[Expirable, float] = {}
        self._task: asyncio.Task[None] | None = None

    def arm(self, waiter: Expirable, deadline: float) -> None:
        """`waiter` must be done by `deadline` (loop time)."""
        self._waits[waiter] = deadline

    def disarm(self, waiter: Expirable) -> None:
        self._waits.pop(waiter, None)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._sweep(), name="agi-watchdog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.period)
            now = loop.time()
            due = [waiter for waiter, deadline in self._waits.items() if deadline <= now]
            for waiter in due:
                del self._waits[waiter]
                waiter.expire()
