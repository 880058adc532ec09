"""The wallboard's `screenpop.outlook.BoardSources` on callpop's shared database: the
estimated waits the AMI lease holder writes to `queue_states`, the callbacks waiting in
`callbacks`, and the `flood_mode` switch. Plain reads: the hub's outlook task keeps the
last values when one fails. A queue's row older than `max_age_s` (`queues.state_max_age_s`)
is reported stale, not as an estimate (docs/contracts.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from callpop.callbacks.store import CallbackStore
from callpop.flood import FloodStore
from callpop.queue_store import QueueStateStore
from screenpop.outlook import Flood, QueueEstimate

__all__ = ["StoreBoardSources"]


class StoreBoardSources:
    def __init__(
        self,
        queues: QueueStateStore,
        callbacks: CallbackStore,
        flood: FloodStore,
        *,
        max_age_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._queues = queues
        self._callbacks = callbacks
        self._flood = flood
        self._max_age_s = max_age_s
        self._clock = clock

    async def estimated_waits(self) -> Mapping[str, QueueEstimate]:
        rows = await self._queues.rows()
        now = self._clock()
        waits: dict[str, QueueEstimate] = {}
        for queue, row in rows.items():
            if row.age_s(now) > self._max_age_s:
                waits[queue] = QueueEstimate(None, stale_since=row.seen_at)
                continue
            ewt = row.fields.get("ewt_s")
            # bool is an int: a stored flag is never a number of seconds
            known = isinstance(ewt, int) and not isinstance(ewt, bool)
            waits[queue] = QueueEstimate(ewt if known else None)
        return waits

    async def callbacks_pending(self) -> Mapping[str, int]:
        return await self._callbacks.waiting_counts()

    async def flood(self) -> Flood:
        state = await self._flood.get()
        return Flood(state.active, state.message if state.active else "")
