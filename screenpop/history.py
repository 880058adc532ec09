"""The pop history: every pop's state changes, written to the `pops` table off the
event path (the agent's "today's calls", reports that join pops to calls and
interactions). A database hiccup costs a history line, never a pop.

Changes are written in batches: `record` only appends, and the writer takes what
accumulated during `linger_s` into one transaction (`ScreenpopStore.record_pops`).
At 100 calls/s a pop changes ~300 times a second; one transaction each kept the loop
busy with database round trips, delaying the next pop. A batch the database refuses
is written again row by row, so one bad row (an agent removed meanwhile) costs only
itself, and the failure is logged once per batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from screenpop.pops import PopChange
from screenpop.store import PopRecord, ScreenpopStore, StoredPopState

__all__ = ["PopHistory"]

log = logging.getLogger(__name__)

# The panel says "accepted", the table "live"; updates change no state and are not kept.
_STORED: Mapping[str, StoredPopState] = {
    "offered": "offered", "accepted": "live", "wrapup": "wrapup", "done": "done",
    "retracted": "retracted"}


class PopHistory:
    """`record` from the event path, `run` as a task, `flush` at shutdown.

    `linger_s` is how long the writer waits after the first queued change, so that a
    batch gathers what arrives meanwhile (the agent's list of today's calls lags by as
    much); `max_pending` bounds what waits when the database is slower than the pops.
    """

    def __init__(self, store: ScreenpopStore, clock: Callable[[], datetime],
                 max_pending: int = 10_000, linger_s: float = 0.05,
                 max_batch: int = 1_000) -> None:
        self._store = store
        self._clock = clock
        self._max_pending = max_pending
        self._linger_s = linger_s
        self._max_batch = max_batch
        self._pending: list[PopRecord] = []
        # taken from `_pending` and not yet known to be written: `flush` writes it
        # again if `run` was cancelled in the middle (the upsert is idempotent)
        self._writing: list[PopRecord] = []
        self._queued = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def pending(self) -> int:
        """Changes recorded and not yet written."""
        return len(self._pending) + len(self._writing)

    def record(self, change: PopChange) -> None:
        """Queue the change for writing; never waits."""
        state = _STORED.get(change.kind)
        if state is None:
            return
        call_id = str(change.view["call_id"])
        if len(self._pending) >= self._max_pending:
            log.error("pop history: %d writes pending, state of call %r not recorded",
                      len(self._pending), call_id)
            return
        self._pending.append(PopRecord(call_id, change.agent_id, state, self._clock()))
        self._queued.set()
        self._idle.clear()

    async def run(self) -> None:
        """Write queued changes until cancelled."""
        while True:
            await self._queued.wait()
            if self._linger_s > 0:
                await asyncio.sleep(self._linger_s)
            await self._write_pending()

    async def drained(self) -> None:
        """Return once every change recorded so far was written (or given up)."""
        await self._idle.wait()

    async def flush(self) -> None:
        """Write what is queued now (at shutdown, after `run` was cancelled)."""
        while self._writing or self._pending:
            await self._write_pending()

    async def _write_pending(self) -> None:
        if not self._writing:
            self._writing = self._pending[:self._max_batch]
            del self._pending[:self._max_batch]
        if not self._pending:
            self._queued.clear()
        batch = self._writing
        try:
            await self._store.record_pops(batch)
        except Exception as exc:
            await self._write_one_by_one(batch, exc)
        self._writing = []
        if not self._pending:
            self._idle.set()

    async def _write_one_by_one(self, batch: list[PopRecord], error: Exception) -> None:
        if len(batch) == 1:
            failed = batch
        else:
            failed = []
            for record in batch:
                try:
                    await self._store.record_pops([record])
                except Exception as exc:
                    failed.append(record)
                    error = exc
        if failed:
            first = failed[0]
            log.error("pop history: %d of %d changes not recorded (first: call %r, agent %s, "
                      "%s)", len(failed), len(batch), first.call_id, first.agent_id, first.state,
                      exc_info=error)
