"""Opening hours: the weekly table, holidays, timezones and daylight saving."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from ivr.flow import DateRange, HoursNode
from ivr.schedule import is_open, parse_weekly, status, zone

OFFICE = {"mon-fri": "09:00-17:00", "sat": ["10:00-12:00", "13:00-15:00"]}
PARIS = "Europe/Paris"


def paris(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone(PARIS))


def test_open_inside_a_span() -> None:
    assert is_open(paris(2024, 6, 3, 9, 0), PARIS, OFFICE)  # a Monday, at opening
    assert is_open(paris(2024, 6, 7, 16, 59), PARIS, OFFICE)  # Friday, last minute


def test_closed_at_the_end_of_a_span() -> None:
    assert not is_open(paris(2024, 6, 3, 17, 0), PARIS, OFFICE)


def test_closed_before_opening() -> None:
    assert not is_open(paris(2024, 6, 3, 8, 59), PARIS, OFFICE)


def test_several_spans_a_day_close_between_them() -> None:
    assert is_open(paris(2024, 6, 8, 11, 0), PARIS, OFFICE)  # Saturday
    assert not is_open(paris(2024, 6, 8, 12, 30), PARIS, OFFICE)
    assert is_open(paris(2024, 6, 8, 13, 0), PARIS, OFFICE)


def test_a_day_not_named_is_closed() -> None:
    assert not is_open(paris(2024, 6, 9, 11, 0), PARIS, OFFICE)  # Sunday


def test_comma_separated_spans_in_one_string() -> None:
    hours = parse_weekly({"sat": "10:00-12:00, 13:00-15:00"})
    assert hours == parse_weekly({"sat": ["10:00-12:00", "13:00-15:00"]})


def test_24_00_ends_the_day() -> None:
    hours = {"mon": "18:00-24:00"}
    assert is_open(paris(2024, 6, 3, 23, 59), PARIS, hours)
    assert not is_open(paris(2024, 6, 4, 0, 0), PARIS, hours)


def test_day_ranges_wrap_over_the_weekend() -> None:
    hours = parse_weekly({"fri-mon": "00:00-24:00"})
    assert [bool(day) for day in hours.days] == [True, False, False, False, True, True, True]


def test_day_names_ignore_case_and_take_lists() -> None:
    assert parse_weekly({"MON,Wed": "09:00-10:00"}).days[2] == ((540, 600),)


def test_closed_written_out() -> None:
    assert parse_weekly({"sun": "closed"}).days[6] == ()


def test_the_instant_is_read_in_the_flow_timezone() -> None:
    # 08:30 in New York is 14:30 in Paris (summer): open in Paris, not yet in New York.
    instant = datetime(2024, 6, 3, 12, 30, tzinfo=UTC)
    assert is_open(instant, PARIS, OFFICE)
    assert not is_open(instant, "America/New_York", OFFICE)


def test_a_fixed_offset_instant_is_converted() -> None:
    instant = datetime(2024, 6, 3, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert is_open(instant, PARIS, OFFICE)


def test_spring_forward_day_uses_daylight_time() -> None:
    # New York moved to EDT (UTC-4) at 02:00 on Sunday 2024-03-10.
    hours = {"sun": "09:00-17:00"}
    assert is_open(datetime(2024, 3, 10, 13, 30, tzinfo=UTC), "America/New_York", hours)
    # The same UTC time a week earlier is 08:30 EST: still closed.
    assert not is_open(datetime(2024, 3, 3, 13, 30, tzinfo=UTC), "America/New_York", hours)


def test_fall_back_day_uses_standard_time() -> None:
    # New York went back to EST (UTC-5) at 02:00 on Sunday 2024-11-03.
    hours = {"sun": "09:00-17:00"}
    assert not is_open(datetime(2024, 11, 3, 13, 30, tzinfo=UTC), "America/New_York", hours)
    assert is_open(datetime(2024, 11, 3, 14, 0, tzinfo=UTC), "America/New_York", hours)


def test_the_repeated_hour_of_fall_back_is_open_both_times() -> None:
    hours = {"sun": "01:00-02:00"}
    first = datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = datetime(2024, 11, 3, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert is_open(first, "America/New_York", hours)
    assert is_open(second, "America/New_York", hours)


def test_a_holiday_closes_the_whole_local_day() -> None:
    holidays = [date(2024, 12, 25)]
    assert status(paris(2024, 12, 25, 10), PARIS, OFFICE, holidays) == "holiday"
    assert not is_open(paris(2024, 12, 25, 10), PARIS, OFFICE, holidays)


def test_holidays_are_local_dates() -> None:
    # 03:00 UTC on the 25th is still the 24th, 22:00, in New York.
    hours = {"tue": "00:00-24:00"}
    instant = datetime(2024, 12, 25, 3, 0, tzinfo=UTC)
    assert status(instant, "America/New_York", hours, [date(2024, 12, 25)]) == "open"


def test_status_open_and_closed() -> None:
    assert status(paris(2024, 6, 3, 10), PARIS, OFFICE) == "open"
    assert status(paris(2024, 6, 3, 20), PARIS, OFFICE) == "closed"


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(datetime(2024, 6, 3, 10), PARIS, OFFICE)


@pytest.mark.parametrize(
    ("weekly", "words"),
    [
        ({"mo-fri": "09:00-17:00"}, "unknown day 'mo' in 'mo-fri'"),
        ({"monday": "09:00-17:00"}, "use mon, tue, wed, thu, fri, sat, sun"),
        ({"mon-fri": "9-17"}, "bad time '9' in mon-fri"),
        ({"mon": "09:00"}, "write HH:MM-HH:MM"),
        ({"mon": "09:60-10:00"}, "bad time '09:60'"),
        ({"mon": "25:00-26:00"}, "bad time '25:00'"),
        ({"mon": "24:00-24:00"}, "00:00 to 23:59"),
        ({"mon": "18:00-09:00"}, "past midnight"),
        ({"mon": "09:00-09:00"}, "does not end after it starts"),
        ({"mon-fri": "09:00-17:00", "fri": "09:00-15:00"}, "fri is given twice"),
        ({"mon": ["09:00-12:00", "11:00-13:00"]}, "09:00-12:00 and 11:00-13:00 overlap on mon"),
    ],
)
def test_bad_tables_say_what_is_wrong(weekly: dict[str, str | list[str]], words: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_weekly(weekly)
    assert words in str(caught.value)


@pytest.mark.parametrize("name", ["Mars/Olympus", "America", "", "../../etc/passwd", "x" * 300])
def test_unknown_timezones_are_value_errors(name: str) -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        zone(name)


def test_a_holiday_range_closes_every_day_from_first_to_last() -> None:
    holidays: list[date | DateRange] = [
        DateRange.model_validate("2024-12-24..2024-12-26"),
        date(2025, 1, 1),
    ]
    for day in (24, 25, 26):
        assert status(paris(2024, 12, day, 10), PARIS, OFFICE, holidays) == "holiday"
    assert status(paris(2024, 12, 23, 10), PARIS, OFFICE, holidays) == "open"
    assert status(paris(2024, 12, 27, 10), PARIS, OFFICE, holidays) == "open"
    assert status(paris(2025, 1, 1, 10), PARIS, OFFICE, holidays) == "holiday"


def test_a_holiday_range_is_written_as_a_range_or_from_to() -> None:
    node = HoursNode.model_validate({
        "type": "hours", "timezone": PARIS, "weekly": OFFICE, "open": "a", "closed": "b",
        "holidays": ["2024-12-24..2024-12-26", {"from": "2024-12-31", "to": "2025-01-01"},
                     "2025-05-01"],
    })  # fmt: skip
    assert [str(h) for h in node.holidays] == [
        "2024-12-24..2024-12-26", "2024-12-31..2025-01-01", "2025-05-01"
    ]  # fmt: skip


def test_a_holiday_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match=r"ends \(2024-12-24\) before it starts \(2024-12-26\)"):
        DateRange.model_validate("2024-12-26..2024-12-24")
