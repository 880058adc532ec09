"""The rows one journey writes, without SQLAlchemy: shared by `callpop.journeys`
(`serve`, through SQLAlchemy's converters) and the classic AGI script (sqlite3 itself).

A call is a `calls` row (what reports group by) and a `journeys` row (the whole path as
JSON), and counts in the hourly statistics (`callpop.report.rollup`); a journey written
again under its call id is first taken out of the statistics (`take_back`).

On SQLite both write a batch with `write_sqlite`, one synchronous transaction on a
`sqlite3` connection: `serve`'s store on a thread of its own (one hop off the event
loop per batch), the classic script for its one journey.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
    "Abandoned",
    "Entry",
    "SqliteForm",
    "call_values",
    "previous_sql",
    "sqlite_time",
    "started_of",
    "take_back",
    "write_sqlite",
]

# A journey and its `to_dict()`: the runner computes the dict once, for `ivr.ended`
# and for the write.
Entry = tuple[Journey, Mapping[str, Any]]

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


def sqlite_time(value: datetime | None) -> str | None:
    """A UTC time as SQLAlchemy's SQLite `DateTime` stores it (`UtcDateTime`)."""
    if value is None:
        return None
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return naive.strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True, slots=True)
class SqliteForm:
    """How journeys become what sqlite3 takes: `JourneyStore`'s upserts by table
    (`callpop.journeys.sqlite_statements`), and the conversion of a time and of a
    journey's JSON (SQLAlchemy's converters in `serve`, these in the classic script;
    tests/callpop/test_classic_services.py checks that the rows are the same)."""

    statements: Mapping[str, str]
    time: Callable[[datetime | None], Any] = sqlite_time
    json: Callable[[Mapping[str, Any]], Any] = json.dumps


class Abandoned(Exception):
    """Whoever waited for the batch was cancelled: it is rolled back, not committed."""


def write_sqlite(
    conn: sqlite3.Connection,
    entries: Sequence[Entry],
    now: datetime,
    form: SqliteForm,
    abandoned: threading.Event | None = None,
) -> None:
    """Write `entries` at `now` in one transaction on `conn` (autocommit mode): all of
    them, or none and the error is raised. It ends with COMMIT or ROLLBACK, so `conn` is
    never left holding the write lock. Once `abandoned` is set (looked at when the lock
    is taken and before COMMIT) it rolls back and raises `Abandoned`."""
    time = form.time
    saved_at = time(now)
    rollup = Rollup()
    call_rows: list[list[Any]] = []
    journey_rows: list[list[Any]] = []
    # Rows first: a journey that cannot be encoded fails before any lock is taken.
    for journey, data in entries:
        started = started_of(journey, now)
        rollup.add(interval_of(started), data)
        call = call_values(journey, started)
        call[6], call[7] = time(call[6]), time(call[7])
        call_rows.append(call)
        journey_rows.append([call[0], form.json(data), saved_at])
    ids = [row[0] for row in call_rows]
    sql = form.statements
    # The write lock at BEGIN: see crm_adapter/sql/engine.py on BEGIN IMMEDIATE. It may
    # wait out the busy timeout, which is when a waiting task is likely to be cancelled.
    conn.execute("BEGIN IMMEDIATE")
    try:
        if abandoned is not None and abandoned.is_set():
            raise Abandoned
        previous = conn.execute(previous_sql(postgres=False, calls=len(ids)), ids).fetchall()
        take_back(rollup, previous)
        conn.executemany(sql["calls"], call_rows)
        conn.executemany(sql["journeys"], journey_rows)
        nodes = [[time(row[0]), *row[1:]] for row in rollup.node_rows()]
        outcomes = [[time(row[0]), *row[1:]] for row in rollup.outcome_rows()]
        if nodes:
            conn.executemany(sql["journey_nodes"], nodes)
        if outcomes:
            conn.executemany(sql["journey_outcomes"], outcomes)
        if abandoned is not None and abandoned.is_set():
            raise Abandoned
        conn.execute("COMMIT")
    except BaseException:
        # SQLite ends the transaction itself after some errors (a full disk, I/O).
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
