"""One timer for the waits of every call: deadlines without a timer per AGI command.

Each call waits on Asterisk about twenty times. An `asyncio.timeout` per wait costs a
timer handle pushed on and cancelled from the loop's heap each time, a dict entry per
wait still two dict operations; here a call is watched once, for its whole session,
and a wait only assigns its deadline to the call's `until` (`NEVER` between waits).
One sweep every `period` seconds expires the calls past due. Deadlines are seconds
long, so a quarter second of lateness changes nothing; the sweep visits every live
call, a few thousand attribute reads four times a second.
"""

from __future__ import annotations

import asyncio
import contextlib

from agi_scripts.deadline import NEVER, Expirable

__all__ = ["Watchdog"]


class Watchdog:
    def __init__(self, period: float = 0.25) -> None:
        self.period = period
        # A plain set, not a WeakSet: a weak reference per call costs a held call ~200
        # bytes. The channel's `close()`, which every FastAGI call reaches in the
        # server's `finally`, forgets it.
        self._watched: set[Expirable] = set()
        self._task: asyncio.Task[None] | None = None

    def watch(self, waiter: Expirable) -> None:
        """From now on, `waiter.until` is checked on every sweep."""
        self._watched.add(waiter)

    def forget(self, waiter: Expirable) -> None:
        self._watched.discard(waiter)

    @property
    def watching(self) -> int:
        """How many waiters are watched (each until `forget`)."""
        return len(self._watched)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._sweep(), name="agi-watchdog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def expire_due(self, now: float) -> None:
        """Expire every watched wait whose deadline is `now` or earlier (each once)."""
        due = [waiter for waiter in self._watched if waiter.until <= now]
        for waiter in due:
            waiter.until = NEVER
            waiter.expire()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.period)
            self.expire_due(loop.time())
