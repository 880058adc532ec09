"""The pop history: every pop's state changes, written to the `pops` table off the
event path (the agent's "today's calls", reports that join pops to calls and
interactions). A database hiccup costs a history line, never a pop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from screenpop.pops import PopChange
from screenpop.store import ScreenpopStore, StoredPopState

__all__ = ["PopHistory"]

log = logging.getLogger(__name__)

# The panel says "accepted", the table "live"; updates change no state and are not kept.
_STORED: Mapping[str, StoredPopState] = {
    "offered": "offered", "accepted": "live", "wrapup": "wrapup", "done": "done",
    "retracted": "retracted"}


class PopHistory:
    def __init__(self, store: ScreenpopStore, clock: Callable[[], datetime],
                 max_pending: int = 10_000) -> None:
        self._store = store
        self._clock = clock
        self._pending: asyncio.Queue[tuple[str, str, StoredPopState, datetime]] = (
            asyncio.Queue(max_pending))

    def record(self, change: PopChange) -> None:
        """Queue the change for writing; never waits."""
        state = _STORED.get(change.kind)
        if state is None:
            return
        call_id = str(change.view["call_id"])
        try:
            self._pending.put_nowait((call_id, change.agent_id, state, self._clock()))
        except asyncio.QueueFull:
            log.error("pop history: %d writes pending, state of call %r not recorded",
                      self._pending.qsize(), call_id)

    async def run(self) -> None:
        """Write queued changes until cancelled."""
        while True:
            await self._write(*await self._pending.get())

    async def flush(self) -> None:
        """Write what is queued now (at shutdown, after `run` was cancelled)."""
        while not self._pending.empty():
            await self._write(*self._pending.get_nowait())

    async def _write(self, call_id: str, agent_id: str, state: StoredPopState,
                     at: datetime) -> None:
        try:
            await self._store.record_pop(call_id, agent_id, state, at)
        except Exception:
            log.exception("pop history: recording call %r for agent %s failed", call_id, agent_id)
