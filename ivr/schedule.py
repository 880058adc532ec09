"""Opening hours: weekly spans in a timezone, plus holidays, as `hours` nodes use them.

The weekly table is written the way a call center states its hours:

    weekly:
      mon-fri: "08:00-18:00"
      sat: ["09:00-12:00", "13:00-16:00"]   # several spans a day (a string with commas works too)
      sun: closed                           # or leave the day out: days not named are closed

Days are `mon tue wed thu fri sat sun` (any case), alone, as ranges (`mon-fri`,
`fri-mon` wraps over the weekend) or as comma lists (`mon,wed`); a day named twice
is an error, not a silent override. Spans are `HH:MM-HH:MM`, end after start;
`24:00` is allowed as an end. A span never crosses midnight: write `22:00-24:00`
on one day and `00:00-06:00` on the next, which is also what a holiday on the
second day needs.

Local time is the call's instant converted with `zoneinfo` (tzdata), so daylight
saving changes are right without any help: the instant is what the call carries,
the local clock is computed from it, never assumed from a fixed offset.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from itertools import pairwise
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DAYS",
    "Status",
    "WeeklyHours",
    "is_open",
    "parse_weekly",
    "status",
    "zone",
]

DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_LIST: Final = ", ".join(DAYS)
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})", re.ASCII)

Status = Literal["open", "closed", "holiday"]
Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Open spans per weekday (0 is Monday), in minutes since local midnight, end excluded."""

    days: tuple[tuple[Span, ...], ...]

    def is_open_at(self, weekday: int, minute: int) -> bool:
        return any(start <= minute < end for start, end in self.days[weekday])


def _day(name: str, key: str) -> int:
    try:
        return DAYS.index(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown day {name.strip()!r} in {key!r}: use {_DAY_LIST}") from None


def _days(key: str) -> list[int]:
    days: list[int] = []
    for part in key.split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            start, end = _day(first, key), _day(last, key)
            # `fri-mon` wraps over the weekend rather than being an error.
            span = (end - start) % 7
            days.extend((start + i) % 7 for i in range(span + 1))
        else:
            days.append(_day(part, key))
    return days


def _minutes(text: str, what: str, *, end: bool) -> int:
    m = _TIME.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"bad time {text.strip()!r} in {what}: write HH:MM, e.g. 09:00")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes != 0 or not end)):
        allowed = "00:00 to 24:00" if end else "00:00 to 23:59"
        raise ValueError(f"bad time {text.strip()!r} in {what}: use {allowed}")
    return hours * 60 + minutes


def _spans(value: str | Sequence[str], key: str) -> list[Span]:
    texts = [value] if isinstance(value, str) else list(value)
    pieces = [p.strip() for text in texts for p in str(text).split(",")]
    if pieces == ["closed"]:
        return []
    spans: list[Span] = []
    for piece in pieces:
        what = f"{key}: {piece!r}"
        start_text, dash, end_text = piece.partition("-")
        if not dash:
            raise ValueError(
                f"bad span {piece!r} for {key}: write HH:MM-HH:MM, e.g. 09:00-17:00, or closed"
            )
        start = _minutes(start_text, what, end=False)
        end = _minutes(end_text, what, end=True)
        if end <= start:
            raise ValueError(
                f"span {piece!r} for {key} does not end after it starts; to stay open past "
                "midnight, end this day at 24:00 and open the next day at 00:00"
            )
        spans.append((start, end))
    return spans


def _text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_weekly(weekly: Mapping[str, str | Sequence[str]]) -> WeeklyHours:
    """The weekly table of an `hours` node, or ValueError saying what is wrong."""
    per_day: list[list[Span]] = [[] for _ in DAYS]
    named_by: dict[int, str] = {}
    for key, value in weekly.items():
        spans = _spans(value, key)
        for day in _days(key):
            if day in named_by:
                raise ValueError(
                    f"{DAYS[day]} is given twice ({named_by[day]!r} and {key!r}): name each day once"
                )
            named_by[day] = key
            per_day[day] = sorted(spans)
    for day, spans in enumerate(per_day):
        for (s1, e1), (s2, e2) in pairwise(spans):
            if s2 < e1:
                raise ValueError(
                    f"spans {_text(s1)}-{_text(e1)} and {_text(s2)}-{_text(e2)} overlap "
                    f"on {DAYS[day]}"
                )
    return WeeklyHours(tuple(tuple(spans) for spans in per_day))


def zone(name: str) -> ZoneInfo:
    """The IANA timezone called `name`, or ValueError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # tzdata raises IsADirectoryError for "America", OSError for overlong names.
        raise ValueError(
            f"unknown timezone {name!r}: use an IANA name such as Europe/Paris or America/New_York"
        ) from None


def status(
    now: datetime,
    tz: str | tzinfo,
    weekly: WeeklyHours | Mapping[str, str | Sequence[str]],
    holidays: Collection[date | Container[date]] = (),
) -> Status:
    """`holiday` if the local date is a holiday, else `open` or `closed` by the weekly hours.

    `now` must be timezone-aware: it is an instant, and the local time is computed
    from it in `tz`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(zone(tz) if isinstance(tz, str) else tz)
    today = local.date()
    if any(today == h if isinstance(h, date) else today in h for h in holidays):
        return "holiday"
    hours = weekly if isinstance(weekly, WeeklyHours) else parse_weekly(weekly)
    if hours.is_open_at(local.weekday(), local.hour * 60 + local.minute):
        return "open"
    return "closed"


def is_open(
    now: datetime,
    tz: str | tzinfo,
    weekly: WeeklyHours | Mapping[str, str | Sequence[str]],
    holidays: Collection[date | Container[date]] = (),
) -> bool:
    """True when the call's instant falls in the weekly hours and not on a holiday."""
    return status(now, tz, weekly, holidays) == "open"
