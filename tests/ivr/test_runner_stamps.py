"""Event stamps: the call's start on the wall clock plus its monotonic time since, as
`ivr.call.iso_utc` writes times (ISO 8601 UTC, milliseconds, truncated, `Z`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from ivr.call import iso_utc
from ivr.events import Caller, CallStarted
from ivr.runner import _CallRun
from ivr.session import Session

from .test_runner import HOTLINE, FakeChannel, FakeClock, FakeServices


class StartClock(FakeClock):
    def __init__(self, start: datetime) -> None:
        super().__init__()
        self.start = start

    def now(self) -> datetime:
        return self.start


def _run(start: datetime) -> tuple[_CallRun, StartClock]:
    clock = StartClock(start)
    call = CallStarted("1.1", Caller("+15551230000", "ANA"), start)
    return _CallRun(
        Session({"main": HOTLINE}), FakeChannel(clock), FakeServices(), call, clock
    ), clock


@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
        ),
    ),
    offsets=st.lists(st.integers(min_value=0, max_value=4 * 3600 * 1000), min_size=1, max_size=6),
)
def test_a_stamp_is_iso_utc_of_the_start_plus_the_calls_time(
    start: datetime, offsets: list[int]
) -> None:
    run, clock = _run(start)
    for offset in sorted(offsets):
        clock.ms = run.start_ms + offset
        assert run.stamp() == iso_utc(start + timedelta(milliseconds=offset))


def test_stamps_cross_seconds_minutes_and_midnight() -> None:
    start = datetime(2026, 12, 31, 23, 59, 59, 999_600, tzinfo=UTC)
    run, clock = _run(start)
    seen = []
    for offset in (0, 1, 1000, 61_000):
        clock.ms = run.start_ms + offset
        seen.append(run.stamp())
    assert seen == [
        "2026-12-31T23:59:59.999Z",
        "2027-01-01T00:00:00.000Z",
        "2027-01-01T00:00:00.999Z",
        "2027-01-01T00:01:00.999Z",
    ]


def test_events_in_one_millisecond_share_its_stamp_and_the_next_one_gets_its_own() -> None:
    start = datetime(2026, 6, 1, 12, 0, 0, 0, tzinfo=UTC)
    run, clock = _run(start)
    clock.ms = run.start_ms + 5
    first, again = run.stamp(), run.stamp()
    clock.ms += 1
    assert (first, again, run.stamp()) == (
        "2026-06-01T12:00:00.005Z",
        "2026-06-01T12:00:00.005Z",
        "2026-06-01T12:00:00.006Z",
    )


def test_a_clock_read_before_the_start_stamps_the_start() -> None:
    start = datetime(2026, 6, 1, 12, 0, 0, 0, tzinfo=UTC)
    run, clock = _run(start)
    clock.ms = run.start_ms - 3
    assert run.stamp() == "2026-06-01T12:00:00.000Z"
