"""One value read from a shared store for every caller, within the lookup budget.

`CachedRead.read()` reads the store at most once per `ttl_s`; for `stale_s` more the
last value is answered at once while that read runs. Past that, callers asking while a
read is in flight share it (one task, each caller waiting on it through a shield, so
a caller that gives up does not cancel it for the others). A caller waits at most
`budget_s`: a store that is slow or failing answers with the last value read (the
initial one before any), because a value a second old beats a caller stalled on the
database. A read that overruns the budget keeps going, and the next caller joins it.
The trouble is logged once when it starts and once when a read succeeds again, in the
owner's words (`ReadNotes`) and on its logger.

The owner gives the value its meaning: `FloodReader` (the flood switch), and
`QueueStateReader` (queue rows, judged stale per queue when answering).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["CachedRead", "ReadNotes"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ReadNotes:
    """What the owner logs, and where: `slow` and `failed` (followed by ": " and the
    error's first line) are warnings ending "; " + `fallback`; `recovered` is info."""

    log: logging.Logger
    slow: str  # e.g. "queue state read is slower than the lookup budget"
    failed: str  # e.g. "queue state not read"
    recovered: str  # e.g. "queue state read again"
    fallback: str  # e.g. "answering with the last state read"


class CachedRead(Generic[T]):
    def __init__(
        self,
        read: Callable[[], Coroutine[Any, Any, T]],
        *,
        initial: T,
        notes: ReadNotes,
        budget_s: float,
        ttl_s: float,
        stale_s: float = 0.0,
        failures: tuple[type[Exception], ...],
        on_change: Callable[[T], None] | None = None,
        name: str = "cached-read",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`stale_s`: how long past `ttl_s` the last value is still answered at once, the
        read that renews it running meanwhile for nobody to wait on (callers asking
        during the once-a-ttl read would otherwise wait a read's time; on a loop busy
        with 20,000 calls that is tens of ms). `failures`: the store's own errors,
        answered with the last value; any other error still reaches the caller waiting
        on that read (a bug is not an outage). `on_change`: called with a read value
        that differs from the last one."""
        self._read = read
        self._notes = notes
        self._budget_s = budget_s
        self._ttl_s = ttl_s
        self._stale_s = stale_s
        self._failures: tuple[type[Exception], ...] = (TimeoutError, *failures)
        self._on_change = on_change
        self._name = name
        self._monotonic = monotonic
        self._last = initial
        self._read_at: float | None = None
        self._reading: asyncio.Task[T] | None = None
        self._failing = False

    async def read(self) -> T:
        age = None if self._read_at is None else self._monotonic() - self._read_at
        if age is None or age >= self._ttl_s:
            if self._reading is None:
                self._reading = asyncio.create_task(self._read(), name=self._name)
                self._reading.add_done_callback(self._read_done)
            if age is not None and age < self._ttl_s + self._stale_s:
                return self._last
            with contextlib.suppress(*self._failures):
                async with asyncio.timeout(self._budget_s):
                    await asyncio.shield(self._reading)
            if self._reading is not None and not self._reading.done():
                self._trouble(self._notes.slow)
        return self._last

    def _read_done(self, task: asyncio.Task[T]) -> None:
        self._reading = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            lines = str(error).splitlines()
            # an error may have no message at all (ConnectionResetError()): its name then
            reason = lines[0] if lines and lines[0] else repr(error)
            self._trouble(f"{self._notes.failed}: {reason}")
            return
        value = task.result()
        if self._on_change is not None and value != self._last:
            self._on_change(value)
        self._last = value
        self._read_at = self._monotonic()
        if self._failing:
            self._notes.log.info(self._notes.recovered)
        self._failing = False

    def _trouble(self, message: str) -> None:
        if not self._failing:
            self._notes.log.warning("%s; %s", message, self._notes.fallback)
        self._failing = True

    async def close(self) -> None:
        """Cancel the read in flight, if any (the owner is shutting down)."""
        task = self._reading
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
