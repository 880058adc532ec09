"""The rows one journey writes, without SQLAlchemy: shared by `callpop.journeys`
(`serve`, through SQLAlchemy's converters) and the classic AGI script (sqlite3 itself).

A call is a `calls` row (what reports group by) and a `journeys` row (the whole path as
JSON), and counts in the hourly statistics (`callpop.report.rollup`); a journey written
again under its call id is first taken out of the statistics (`take_back`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from callpop.report.rollup import Rollup, interval_of
from crm_adapter.sql.limits import LIMITS
from ivr.journey import Journey

__all__ = [
    "CALL_COLUMNS",
    "JOURNEY_COLUMNS",
    "NODE_COLUMNS",
    "NODE_KEY",
    "OUTCOME_COLUMNS",
    "OUTCOME_KEY",
    "call_values",
    "previous_sql",
    "started_of",
    "take_back",
]

CALL_COLUMNS: Final = (
    "call_id",
    "flow",
    "caller",
    "caller_name",
    "dnis",
    "customer_id",
    "started_at",
    "ended_at",
    "outcome",
    "target",
)
JOURNEY_COLUMNS: Final = ("call_id", "data", "saved_at")
NODE_KEY: Final = ("interval_start", "entry_flow", "version", "flow", "node", "kind", "result")
NODE_COLUMNS: Final = (*NODE_KEY, "visits", "ms", "invalid", "timeouts")
OUTCOME_KEY: Final = ("interval_start", "entry_flow", "version", "topic", "outcome", "target")
OUTCOME_COLUMNS: Final = (*OUTCOME_KEY, "calls", "ms", "ms_min", "ms_max")


def _clip(value: str | None, limit: int) -> str | None:
    # Caller ID names are the caller's to choose: a 10 kB name must not fail the save.
    return None if value is None else value[:limit]


def started_of(journey: Journey, fallback: datetime) -> datetime:
    """When the call started (UTC), `fallback` if its stamp cannot be read."""
    try:
        started = datetime.fromisoformat(journey.started_at.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return started if started.tzinfo else started.replace(tzinfo=UTC)


def call_values(journey: Journey, started: datetime) -> list[Any]:
    """The `calls` row, in `CALL_COLUMNS` order, before the driver's conversions."""
    outcome = journey.outcome
    return [
        journey.call_id[: LIMITS["call_id"]],
        journey.flow[:64],
        _clip(journey.caller_number, 64) or "",
        _clip(journey.caller_name, 200) or "",
        _clip(journey.dnis, 64) or "",
        _clip(journey.customer_id, LIMITS["external_id"]),
        started,
        None if outcome is None else started + timedelta(milliseconds=outcome.at_ms),
        None if outcome is None else outcome.type,
        None if outcome is None else _clip(outcome.target, 200),
    ]


def previous_sql(*, postgres: bool, calls: int = 1) -> str:
    """The stored journeys a write of `calls` call ids replaces (started_at, data)."""
    head = "SELECT c.started_at, j.data FROM journeys j JOIN calls c ON c.call_id = j.call_id"
    if postgres:
        return head + " WHERE j.call_id = ANY($1::text[])"
    return head + " WHERE j.call_id IN ({})".format(",".join("?" * calls))


def take_back(rollup: Rollup, previous: Sequence[Any]) -> None:
    """Journeys a write replaces leave the statistics (a retried save)."""
    for started, data in previous:
        if isinstance(started, str):  # SQLite: naive UTC text
            started = datetime.fromisoformat(started).replace(tzinfo=UTC)
        rollup.add(
            interval_of(started), json.loads(data) if isinstance(data, str) else data, sign=-1
        )
