"""The IVR's clock in the demo: the real time, or a time when the office is open.

The sample flow checks business hours (`hours` nodes) before it offers its menus: at
night it says the office is closed and takes a message, and no agent is ever rung. A
newcomer trying the demo at 2 a.m. must still see a pop, so by default the demo's IVR
runs on the real time while the office is open, and otherwise on a clock started at
the next time every `hours` node of the entry flow says open (and still will an hour
later). The start banner and the test phone say which. `--at now` keeps the real time,
`--at 2026-11-24T22:00:00-05:00` starts the IVR's clock at that instant. (An office
about to close counts as closed: a demo session lasts a while.)

Only the IVR's decisions and its event stamps use this clock; the agents' pages, the
queue events and the CRM keep the real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from ivr.flow import DateRange, Flow, HoursNode
from ivr.schedule import WeeklyHours, parse_weekly, status, zone

__all__ = ["DemoClock", "office_hours_clock"]

_STEP = timedelta(minutes=15)
_HORIZON = timedelta(days=21)
_STAY_OPEN = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DemoClock:
    """`ivr.runner.Clock`: real monotonic time; wall time shifted by `offset`.

    `reason` says in a sentence why the clock is what it is (for the banner)."""

    offset: timedelta = timedelta(0)
    reason: str = "the real time"
    wall: Callable[[], datetime] = lambda: datetime.now(UTC)

    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000

    def now(self) -> datetime:
        return self.wall() + self.offset


@dataclass(frozen=True, slots=True)
class _Office:
    """One `hours` node, parsed once."""

    timezone: str
    tz: tzinfo
    weekly: WeeklyHours
    holidays: tuple[DateRange, ...]

    def open_at(self, at: datetime) -> bool:
        return status(at, self.tz, self.weekly, self.holidays) == "open"


def _offices(flow: Flow) -> Iterator[_Office]:
    for node in flow.nodes.values():
        if isinstance(node, HoursNode):
            timezone, weekly = node.hours()
            yield _Office(timezone, zone(timezone), parse_weekly(weekly), node.holidays)


def _all_open(offices: list[_Office], at: datetime) -> bool:
    return all(office.open_at(at) for office in offices)


def _local(at: datetime, offices: list[_Office]) -> str:
    return f"{at.astimezone(offices[0].tz):%a %d %b %H:%M} {offices[0].timezone}"


def office_hours_clock(
    flows: dict[str, Flow],
    entry: str,
    *,
    at: datetime | None = None,
    real: bool = False,
    wall: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DemoClock:
    """The demo IVR's clock: the real time (`real`), one started at `at`, or by default
    the real time if the entry flow's office is open, else the next opening time."""
    now = wall()
    if real:
        return DemoClock(reason="the real time (--at now)", wall=wall)
    flow = flows.get(entry)
    nodes = list(_offices(flow)) if flow is not None else []
    if at is not None:
        if at.tzinfo is None:
            raise ValueError("--at needs a time zone, e.g. 2026-11-24T10:30:00-05:00")
        shown = _local(at, nodes) if nodes else at.isoformat()
        return DemoClock(at - now, f"starts at {shown} (--at)", wall)
    if not nodes or (_all_open(nodes, now) and _all_open(nodes, now + _STAY_OPEN)):
        return DemoClock(reason="the real time: the office is open", wall=wall)
    candidate = now.replace(second=0, microsecond=0)
    candidate += timedelta(minutes=15 - candidate.minute % 15)
    while candidate - now < _HORIZON:
        if _all_open(nodes, candidate) and _all_open(nodes, candidate + _STAY_OPEN):
            return DemoClock(
                candidate - now,
                f"starts at {_local(candidate, nodes)}: the office is closed at "
                f"the real time, so the demo's IVR runs in opening hours "
                f"(--at now for the real time)",
                wall,
            )
        candidate += _STEP
    return DemoClock(
        reason=f"the real time: the office of flow {entry!r} never opens "
        f"in the next {_HORIZON.days} days",
        wall=wall,
    )
