"""Benchmark 5's calls stored in bulk: the rows `JourneyStore.write` stores, written at
~20,000 calls a second on SQLite and ~11,000 on PostgreSQL instead of ~1,400.

Through `JourneyStore.write` a million calls took ~12 minutes per database: every call's
journey was turned into a dict, folded into the statistics and serialised, and every
batch upserted its hourly statistics row by row (calls spread over 30 days and 3
versions hardly ever share an hour's row within a batch, so a batch of 2,000 calls made
~10,000 upserts). Here each caller path and version is turned into its stored rows
once, by the product's own code (`call_values`, the tables' converters, the JSON type),
and a call changes only its call id and times; the statistics are summed over all the
calls first (the product's `Rollup`), so each of their rows is written once. The tables
start empty, so plain INSERTs (SQLite) and COPY (PostgreSQL) store what the upserts
would. tests/bench/test_journey_fill.py checks the rows against `JourneyStore.write`'s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.journey_data import VERSIONS, Call, calls, entry, stamp, templates
from callpop.journey_rows import (
    CALL_COLUMNS,
    JOURNEY_COLUMNS,
    NODE_COLUMNS,
    OUTCOME_COLUMNS,
    call_values,
)
from callpop.report.rollup import Rollup, interval_of
from crm_adapter.sql.tables import calls as calls_table
from crm_adapter.sql.tables import journey_nodes, journey_outcomes, journeys
from ivr.journey import Journey

__all__ = ["fill"]

BATCH = 50_000
# Stand-ins for the call id and start time in a path's stored JSON, replaced per call.
_MARK_ID = "@call-id@"
_MARK_START = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)

Converter = Callable[[Any], Any]


def _converters(table: Table, columns: Sequence[str], dialect: Dialect) -> list[Converter | None]:
    """What SQLAlchemy makes of a value of each column before the driver gets it."""
    return [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]


def _converted(converters: list[Converter | None], row: list[Any]) -> list[Any]:
    for i, convert in enumerate(converters):
        if convert is not None:
            row[i] = convert(row[i])
    return row


class _StoredRows:
    """The rows of the calls, made from one stored journey per path and version."""

    def __init__(self, dialect: Dialect, saved_at: datetime) -> None:
        self._dialect = dialect
        self._journeys: list[Journey] = templates()
        self._call_converters = _converters(calls_table, CALL_COLUMNS, dialect)
        to_json, to_saved_at = _converters(journeys, JOURNEY_COLUMNS[1:], dialect)
        if to_json is None:
            raise AssertionError(f"{dialect.name}: the JSON type stores no text to start from")
        self._saved_at = saved_at if to_saved_at is None else to_saved_at(saved_at)
        # (path, version) -> the path's journey data, and its JSON with the stand-ins.
        self._data: dict[tuple[int, str], Any] = {}
        self._json: dict[tuple[int, str], str] = {}
        self._mark_start = stamp(_MARK_START)
        for path, journey in enumerate(self._journeys):
            for version in VERSIONS:
                _, data = entry(journey, Call(_MARK_ID, path, _MARK_START, version))
                text: str = to_json(data)
                for mark in (_MARK_ID, self._mark_start):
                    if text.count(mark) != 1:
                        raise AssertionError(f"path {path}: {mark!r} is not once in {text}")
                self._data[path, version] = data
                self._json[path, version] = text

    def call_row(self, call: Call) -> list[Any]:
        row = call_values(self._journeys[call.path], call.started)
        row[0] = call.call_id
        return _converted(self._call_converters, row)

    def journey_row(self, call: Call) -> list[Any]:
        text = self._json[call.path, call.version]
        text = text.replace(_MARK_ID, call.call_id).replace(self._mark_start, stamp(call.started))
        return [call.call_id, text, self._saved_at]

    def batch(
        self, upcoming: Iterator[Call], counted: Counter[tuple[datetime, int, str]]
    ) -> tuple[list[list[Any]], list[list[Any]]] | None:
        """The `calls` and `journeys` rows of the next `BATCH` calls (None when there
        are none left), counted by hour, path and version in `counted`."""
        batch = list(islice(upcoming, BATCH))
        if not batch:
            return None
        counted.update((interval_of(c.started), c.path, c.version) for c in batch)
        return [self.call_row(c) for c in batch], [self.journey_row(c) for c in batch]

    def statistics(
        self, counted: Mapping[tuple[datetime, int, str], int]
    ) -> tuple[list[list[Any]], list[list[Any]]]:
        """The `journey_nodes` and `journey_outcomes` rows of calls counted by (hour,
        path, version)."""
        rollup = Rollup()
        for (interval, path, version), count in counted.items():
            # `sign` multiplies every count and sum `add` makes (it is -1 to take a
            # journey back), so this adds the path's journey `count` times.
            rollup.add(interval, self._data[path, version], sign=count)
        nodes = _converters(journey_nodes, NODE_COLUMNS, self._dialect)
        outcomes = _converters(journey_outcomes, OUTCOME_COLUMNS, self._dialect)
        return (
            [_converted(nodes, row) for row in rollup.node_rows()],
            [_converted(outcomes, row) for row in rollup.outcome_rows()],
        )


async def _insert(
    driver: Any, postgres: bool, table: Table, columns: Sequence[str], rows: list[list[Any]]
) -> None:
    if not rows:
        return
    if postgres:
        await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))
        return
    marks = ", ".join("?" * len(columns))
    await driver.executemany(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows
    )


async def fill(engine: AsyncEngine, size: int, *, saved_at: datetime) -> None:
    """Store calls 0 to `size` - 1 in the empty, migrated database of `engine`, in one
    transaction, as `JourneyStore.write` at `saved_at` would."""
    postgres = engine.dialect.name == "postgresql"
    stored = _StoredRows(engine.dialect, saved_at)
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        if postgres:
            async with driver.transaction():
                await _write(driver, True, stored, size)
            return
        kept = {p: await _pragma(driver, p) for p in ("journal_mode", "synchronous")}
        # No journal and no sync while the rows go in (each row is written once, not
        # to the WAL and then to the file): the caller's file becomes the cache only
        # once complete, so a crash in the middle loses nothing that was kept.
        await driver.execute("PRAGMA journal_mode=OFF")
        await driver.execute("PRAGMA synchronous=OFF")
        try:
            await driver.execute("BEGIN IMMEDIATE")
            await _write(driver, False, stored, size)
            await driver.execute("COMMIT")
        except BaseException:
            # Without a journal there is no rollback: the connection goes, with the file.
            await conn.invalidate()
            raise
        for pragma, value in kept.items():
            await driver.execute(f"PRAGMA {pragma}={value}")


async def _pragma(driver: Any, name: str) -> Any:
    async with driver.execute(f"PRAGMA {name}") as cursor:
        (value,) = await cursor.fetchone()
    return value


async def _write(driver: Any, postgres: bool, stored: _StoredRows, size: int) -> None:
    counted: Counter[tuple[datetime, int, str]] = Counter()
    upcoming = calls(size)
    while batch := stored.batch(upcoming, counted):
        call_rows, journey_rows = batch
        await _insert(driver, postgres, calls_table, CALL_COLUMNS, call_rows)
        await _insert(driver, postgres, journeys, JOURNEY_COLUMNS, journey_rows)
    nodes, outcomes = stored.statistics(counted)
    await _insert(driver, postgres, journey_nodes, NODE_COLUMNS, nodes)
    await _insert(driver, postgres, journey_outcomes, OUTCOME_COLUMNS, outcomes)
