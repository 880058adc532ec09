"""The wallboard's `screenpop.outlook.BoardSources` on callpop's shared database: the
estimated waits the AMI lease holder writes to `queue_states`, the callbacks waiting in
`callbacks`, the `flood_mode` switch, and today's `survey_answers`. Plain reads: the
hub's outlook task keeps the last values when one fails. A queue's row older than
`max_age_s` (`queues.state_max_age_s`) is reported stale, not as an estimate
(docs/contracts.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time

from callpop.callbacks.store import CallbackStore
from callpop.flood import FloodStore
from callpop.queue_store import QueueStateStore
from callpop.surveys import SurveyStore
from screenpop.outlook import Flood, QueueEstimate, Score, SurveyToday

__all__ = ["StoreBoardSources"]


class StoreBoardSources:
    def __init__(
        self,
        queues: QueueStateStore,
        callbacks: CallbackStore,
        flood: FloodStore,
        surveys: SurveyStore | None = None,
        *,
        max_age_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._queues = queues
        self._callbacks = callbacks
        self._flood = flood
        self._surveys = surveys
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

    async def survey_today(self) -> SurveyToday:
        if self._surveys is None:
            return SurveyToday()
        # The board's day, as its answered and abandoned counts: from local midnight.
        now = self._clock().astimezone()
        midnight = datetime.combine(now.date(), time(), now.tzinfo)
        figures = await self._surveys.figures(since=midnight)
        return SurveyToday(
            queues={line.key: Score(line.average, line.answers) for line in figures.queues},
            agents={line.key: Score(line.average, line.answers) for line in figures.agents},
            overall=None if figures.average is None else Score(figures.average, figures.answers),
        )
