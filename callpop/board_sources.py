"""The wallboard's `screenpop.outlook.BoardSources` on callpop's shared database: the
estimated waits the AMI lease holder writes to `queue_states`, the callbacks waiting in
`callbacks`, and the `flood_mode` switch. Plain reads: the hub's outlook task keeps the
last values when one fails."""

from __future__ import annotations

from collections.abc import Mapping

from callpop.callbacks.store import CallbackStore
from callpop.flood import FloodStore
from callpop.queue_store import QueueStateStore
from screenpop.outlook import Flood

__all__ = ["StoreBoardSources"]


class StoreBoardSources:
    def __init__(
        self, queues: QueueStateStore, callbacks: CallbackStore, flood: FloodStore
    ) -> None:
        self._queues = queues
        self._callbacks = callbacks
        self._flood = flood

    async def estimated_waits(self) -> Mapping[str, int | None]:
        waits: dict[str, int | None] = {}
        for queue, fields in (await self._queues.read()).items():
            ewt = fields.get("ewt_s")
            # bool is an int: a stored flag is never a number of seconds
            waits[queue] = ewt if isinstance(ewt, int) and not isinstance(ewt, bool) else None
        return waits

    async def callbacks_pending(self) -> Mapping[str, int]:
        return await self._callbacks.waiting_counts()

    async def flood(self) -> Flood:
        state = await self._flood.get()
        return Flood(state.active, state.message if state.active else "")
