"""The demo IVR's clock: the real time while the office is open, else the next opening,
so a newcomer at 2 a.m. still reaches an agent; `--at` and `--at now` say otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callpop.demo.clock import office_hours_clock
from ivr.flow import Flow
from ivr.loader import load_dialplan

NEW_YORK = ZoneInfo("America/New_York")
FLOWS: dict[str, Flow] = dict(load_dialplan(Path(__file__).resolve().parents[2] / "dialplan").flows)


def at(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NEW_YORK)


def clock_at(wall: datetime, **kwargs: object) -> datetime:
    clock = office_hours_clock(FLOWS, "main", wall=lambda: wall, **kwargs)  # type: ignore[arg-type]
    return clock.now()


def test_while_the_office_is_open_the_ivr_runs_on_the_real_time() -> None:
    tuesday_morning = at(2026, 11, 24, 10, 30)
    assert clock_at(tuesday_morning) == tuesday_morning


def test_at_night_the_ivr_runs_from_the_next_opening() -> None:
    assert clock_at(at(2026, 11, 24, 23, 10)) == at(2026, 11, 25, 8, 0)


def test_over_a_holiday_and_a_weekend_the_next_opening_is_after_them() -> None:
    # Thanksgiving (a holiday of the flow), then Friday opens as usual
    assert clock_at(at(2026, 11, 25, 21, 0)) == at(2026, 11, 27, 8, 0)


def test_late_on_saturday_the_next_opening_is_monday() -> None:
    # Saturday closes at 17:00; an opening must stay open an hour, so not Saturday 16:30
    assert clock_at(at(2026, 11, 28, 16, 30)) == at(2026, 11, 30, 8, 0)


def test_at_now_keeps_the_real_time_even_at_night() -> None:
    night = at(2026, 11, 24, 23, 10)
    assert clock_at(night, real=True) == night


def test_at_a_given_time_starts_the_clock_there() -> None:
    start = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    assert clock_at(at(2026, 11, 24, 10, 0), at=start) == start


def test_a_start_time_needs_a_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        clock_at(at(2026, 11, 24, 10, 0), at=datetime(2026, 11, 24, 22, 0))


def test_the_clock_runs_on_from_where_it_starts() -> None:
    walls = iter(
        [
            at(2026, 11, 24, 23, 10),
            at(2026, 11, 24, 23, 10),
            at(2026, 11, 24, 23, 10) + timedelta(seconds=42),
        ]
    )
    clock = office_hours_clock(FLOWS, "main", wall=lambda: next(walls))
    assert clock.now() == at(2026, 11, 25, 8, 0)
    assert clock.now() == at(2026, 11, 25, 8, 0, 42)
