"""What the wallboard reads from the shared database rather than from the bus: each
queue's estimated wait (written by the AMI lease holder), the callbacks pending per
queue, the flood switch an admin sets (docs/contracts.md, "Queue state across
instances"), and today's post-call survey averages per queue and per agent.

`BoardOutlook.refresh()` reads them from its `BoardSources`, each within a budget,
in the hub's own task every few seconds: never on the event path, so a slow database
delays no pop. A read that fails or is too slow keeps the last values (a board a few
seconds stale beats a blank one), logged once per change of state per source.

Queue state the AMI lease holder stopped vouching for (AMI not connected) is another
matter: past the site's max age the source reports it stale (`QueueEstimate.stale_since`)
rather than its old estimate, and the board says so; logged once per queue going stale
and once when it is current again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

__all__ = [
    "OUTLOOK_BUDGET_S",
    "BoardOutlook",
    "BoardSources",
    "Flood",
    "Outlook",
    "QueueEstimate",
    "Score",
    "SurveyToday",
]

log = logging.getLogger(__name__)

OUTLOOK_BUDGET_S = 2.0  # one read of one source; past it the board keeps the last values

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Flood:
    active: bool = False
    message: str = ""  # the announcement's name (a sound name, letters/digits/-/_)


@dataclass(frozen=True, slots=True)
class QueueEstimate:
    ewt_s: int | None  # seconds; None: not known, stale, or nobody staffs the queue
    # when a connected AMI lease holder last vouched for the state, once that is too long
    # ago to trust (then `ewt_s` is None); None while it is current
    stale_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Score:
    """A mean survey score (1-5) and the number of answers it is made of."""

    average: float
    answers: int


@dataclass(frozen=True, slots=True)
class SurveyToday:
    """Today's post-call survey answers: by queue, and by agent interface."""

    queues: Mapping[str, Score] = field(default_factory=dict)
    agents: Mapping[str, Score] = field(default_factory=dict)
    overall: Score | None = None


class BoardSources(Protocol):
    async def estimated_waits(self) -> Mapping[str, QueueEstimate]:
        """Queue -> its estimated wait, or how long its state has been stale."""
        ...

    async def callbacks_pending(self) -> Mapping[str, int]:
        """Queue -> callbacks waiting to be placed."""
        ...

    async def flood(self) -> Flood: ...

    async def survey_today(self) -> SurveyToday:
        """Today's survey averages (the day as the board counts it: local midnight)."""
        ...


@dataclass(frozen=True, slots=True)
class Outlook:
    """The values as last read."""

    ewt_s: Mapping[str, int | None] = field(default_factory=dict)
    stale_since: Mapping[str, datetime] = field(default_factory=dict)  # stale queues only
    callbacks_pending: Mapping[str, int] = field(default_factory=dict)
    flood: Flood = Flood()
    surveys: SurveyToday = SurveyToday()


class BoardOutlook:
    def __init__(self, sources: BoardSources, *, budget_s: float = OUTLOOK_BUDGET_S) -> None:
        self._sources = sources
        self._budget_s = budget_s
        self.current = Outlook()
        self._failing: set[str] = set()
        self._stale: set[str] = set()

    async def refresh(self) -> bool:
        """Read every source once; True if what the board shows changed."""
        last = self.current
        ewt = await self._read("estimated waits", self._sources.estimated_waits)
        pending = await self._read("callbacks pending", self._sources.callbacks_pending)
        flood = await self._read("flood switch", self._sources.flood)
        surveys = await self._read("survey answers", self._sources.survey_today)
        if ewt is not None:
            self._log_staleness(ewt)
        self.current = Outlook(
            last.ewt_s if ewt is None else {q: e.ewt_s for q, e in ewt.items()},
            last.stale_since
            if ewt is None
            else {q: e.stale_since for q, e in ewt.items() if e.stale_since is not None},
            last.callbacks_pending if pending is None else dict(pending),
            last.flood if flood is None else flood,
            last.surveys if surveys is None else surveys,
        )
        return self.current != last

    def _log_staleness(self, estimates: Mapping[str, QueueEstimate]) -> None:
        stale = {q for q, e in estimates.items() if e.stale_since is not None}
        for queue in sorted(stale - self._stale):
            since = estimates[queue].stale_since
            log.warning(
                "wallboard: queue state of %s not refreshed since %s (AMI not connected);"
                " shown as stale",
                queue,
                since.isoformat(timespec="seconds") if since is not None else "?",
            )
        for queue in sorted(self._stale - stale):
            log.info("wallboard: queue state of %s is current again", queue)
        self._stale = stale

    async def _read(self, what: str, read: Callable[[], Awaitable[T]]) -> T | None:
        try:
            async with asyncio.timeout(self._budget_s):
                value = await read()
        except Exception as exc:  # any store trouble: the board keeps the last values
            if what not in self._failing:
                reason = (
                    "slower than the budget"
                    if isinstance(exc, TimeoutError)
                    else (str(exc).splitlines() or [repr(exc)])[0]
                )
                log.warning("wallboard: %s not read (%s); showing the last values", what, reason)
                self._failing.add(what)
            return None
        if what in self._failing:
            log.info("wallboard: %s read again", what)
            self._failing.discard(what)
        return value
