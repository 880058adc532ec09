"""`serve`'s garbage collection: young objects on a clock, the whole heap seldom.

CPython's cyclic collector is generational: it bets that most objects die young, and
looks at the young ones when allocations minus deallocations pass a threshold. Held
calls break both halves of that. A call's state (its task, coroutines, session, journey)
lives as long as the caller is in the menus: 66 s at 20,000 calls held with 300 new a
second, so nearly everything a young collection walks survives it. And each call that
ends frees objects of the older generations, which CPython 3.11 subtracts from the young
count: with churn the count stays low while the young generation grows. Probed in `serve`
holding 20,000 calls (docs/benchmarks.md, "Holding 20,000 calls"): young collections of
up to 260,000 objects (100-400 ms each, freeing 0-10), older ones of up to 430,000
(480 ms), and a full collection of 1.09 million objects (1.2 s) every ~17 s: a per-command
p99 of 0.3-1.1 s. With automatic collection off the same load gave 51 ms, and a full
collection at the end freed 443 objects for 26,000 calls: calls make almost no cycles.

So `serve` runs the collector itself once started:
- everything alive at startup (imports, the app, the compiled dialplan) is frozen first:
  it lives as long as the process and no collection walks it again;
- the young generation is collected every `young_every_s`: bounded by time, not by a
  count the churn defeats, it holds only what was made since (at 300 new calls a second
  some 16,000 surviving objects a second, a pause of a millisecond or two every 0.1 s),
  and short-lived cycles (an exception's traceback, a web request's objects) are freed
  there;
- what survives moves to the older generation, which only the whole-heap collection
  walks. That pause grows with the calls held (~1.2 s at 20,000), so it comes when the
  garbage it can expect to find is worth it: a quarter of what it walks, at the rate the
  last one found (CPython lets a quarter of the old generation be new before it walks it
  all; this counts garbage found, not survivors promoted), between `full_min_s` and
  `full_max_s` apart. With uvloop a FastAGI call leaves no cycle behind (443 objects in
  all for 26,000 calls, measured), so at 20,000 held it comes every `full_max_s`. Plain
  asyncio's socket transport is a cycle (it holds a bound method of itself): a few objects
  per connection, freed only there, so without uvloop it comes every minute or so.
  Each is logged, at INFO when its pause is one a caller could hear.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable

__all__ = [
    "FULL_MAX_S",
    "FULL_MIN_S",
    "GARBAGE_SHARE",
    "YOUNG_EVERY_S",
    "Collector",
    "full_wait_s",
]

log = logging.getLogger(__name__)

# Short enough that a young collection holds a fraction of a second of calls (a pause
# of ~1-2 ms at 300 new calls a second); each object is walked once young whatever the
# interval, so collecting more often costs no more in all.
YOUNG_EVERY_S = 0.1
# The whole heap is walked when the garbage expected is this share of the objects walked.
GARBAGE_SHARE = 0.25
# ... but no sooner than this after the last (the first comes this long after startup,
# to learn the rate) ...
FULL_MIN_S = 30.0
# ... and no later: the pause is ~60 us per held call, so at 20,000 held once every 15
# minutes holds up one command in ~10,000.
FULL_MAX_S = 900.0
# A whole-heap pause this long is said at INFO (a latency spike an operator may see).
NOTABLE_PAUSE_S = 0.1


def full_wait_s(freed: int, over_s: float, walked: int, *, lo: float, hi: float) -> float:
    """When the next whole-heap collection is worth it, after one that freed `freed`
    objects `over_s` after the one before and kept `walked`: once the garbage, at that
    rate, is GARBAGE_SHARE of what it walks; within [lo, hi]."""
    if freed <= 0:
        return hi
    rate = freed / max(over_s, 1e-3)
    return min(hi, max(lo, GARBAGE_SHARE * walked / rate))


class Collector:
    """The collection schedule of one process: `take_over`, then `tick` on a clock (`start`
    does both on the running loop), and `hand_back` (`stop`) when done."""

    def __init__(
        self,
        *,
        young_every_s: float = YOUNG_EVERY_S,
        full_min_s: float = FULL_MIN_S,
        full_max_s: float = FULL_MAX_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.young_every_s = young_every_s
        self.full_min_s = full_min_s
        self.full_max_s = full_max_s
        self.clock = clock
        self._last_full = 0.0
        # When the next whole-heap collection is due, on `clock`.
        self.full_due = 0.0
        self._task: asyncio.Task[None] | None = None

    def take_over(self) -> None:
        """Free startup's garbage, freeze what is left, and stop automatic collection."""
        gc.collect()
        gc.freeze()
        gc.disable()
        self._last_full = self.clock()
        self.full_due = self._last_full + self.full_min_s

    def tick(self) -> None:
        """One collection: the young generation, or the whole heap when it is due."""
        if self.clock() < self.full_due:
            gc.collect(0)
            return
        started = time.perf_counter()
        freed = gc.collect()
        pause_s = time.perf_counter() - started
        now = self.clock()
        walked = len(gc.get_objects())  # what the next one walks, were nothing to change
        wait_s = full_wait_s(
            freed, now - self._last_full, walked, lo=self.full_min_s, hi=self.full_max_s
        )
        self._last_full, self.full_due = now, now + wait_s
        log.log(
            logging.INFO if pause_s >= NOTABLE_PAUSE_S else logging.DEBUG,
            "garbage collection: the whole heap in %.0f ms, %d objects freed, %d kept; "
            "the next in %.0f s",
            pause_s * 1000,
            freed,
            walked,
            wait_s,
        )

    def hand_back(self) -> None:
        """Automatic collection as CPython does it, over every object again."""
        gc.unfreeze()
        gc.enable()

    async def run(self) -> None:
        """Tick every `young_every_s` until cancelled."""
        while True:
            await asyncio.sleep(self.young_every_s)
            self.tick()

    def start(self) -> None:
        """Take over, and tick on this loop until `stop`."""
        self.take_over()
        self._task = asyncio.create_task(self.run(), name="garbage-collector")

    async def stop(self) -> None:
        """Stop ticking (if started) and hand the collector back."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.hand_back()
