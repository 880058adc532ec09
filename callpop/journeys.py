"""Journeys and call rows in the database, keyed by call id.

Every driver's runner hands its finished journey to a `JourneySink`. `serve` gives
them a `JourneyWriter`: one task that writes whatever journeys queued up meanwhile in
one transaction, so the cost of a write is shared by a batch. The runner hands a
journey over before it gives Asterisk the call's outcome, and `serve`'s writer returns
once the journey's batch is committed or `durable_within_s` passed, whichever is first:
a crash (even SIGKILL) cannot lose the journey of a call Asterisk routed by callpop's
outcome, and a slow database delays a caller by at most that bound (then, until the
writer catches up, not at all: docs/architecture.md, "Journeys"). The classic AGI script, which runs in Asterisk's process-per-call
world, writes its one journey straight through `JourneyStore.save`. `serve` (the
screen-pop) reads a journey back by its call id.

One transaction writes the `calls` rows (what reports group by), the `journeys`
rows (the whole path, as JSON) and the hourly statistics `callpop report` reads
(`journey_nodes`, `journey_outcomes`: callpop/report/rollup.py); writing twice for one
call id replaces both rows and takes the first journey out of the statistics, so a
retried write cannot duplicate a call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.journey_rows import (
    CALL_COLUMNS,
    JOURNEY_COLUMNS,
    NODE_COLUMNS,
    NODE_KEY,
    OUTCOME_COLUMNS,
    OUTCOME_KEY,
    Entry,
    SqliteForm,
    call_values,
    previous_sql,
    started_of,
    take_back,
    write_sqlite,
)
from callpop.report.rollup import Rollup, interval_of
from crm_adapter.sql.reader import reader_path
from crm_adapter.sql.sqlite_thread import SqliteThread
from crm_adapter.sql.tables import calls, journey_nodes, journey_outcomes, journeys
from ivr.journey import Journey

__all__ = [
    "DURABLE_WITHIN_S",
    "JourneySink",
    "JourneyStore",
    "JourneyWriter",
    "sqlite_statements",
]

log = logging.getLogger("callpop.journeys")

# How long `serve` lets a call wait for its journey's commit before handing it back.
# A batch commits in milliseconds (SQLite WAL, PostgreSQL alike); past this the
# database is in trouble, and callers go on without waiting.
DURABLE_WITHIN_S = 2.0


class JourneySink(Protocol):
    """Where the runner's services put a finished journey."""

    async def save(self, journey: Journey, data: Mapping[str, Any] | None = None) -> None:
        """Store `journey`; `data` is its `to_dict()` when the caller already has it."""
        ...


class _Upsert:
    """One table's upsert as the driver's own SQL text, with SQLAlchemy's converters.

    Not written through SQLAlchemy's async layer, which costs a trip to the driver for
    every cursor step (~10 per journey, 2.4 ms of CPU, measured in bench/findings.md):
    asyncpg's `executemany` writes a whole batch in one round trip, and on SQLite
    `write_sqlite` runs the whole transaction on one thread. The SQL and the parameter
    conversion (UTC datetimes, JSON) are still SQLAlchemy's, compiled once, so the rows
    read back exactly as if SQLAlchemy had written them.
    """

    def __init__(
        self,
        table: Table,
        columns: tuple[str, ...],
        dialect: Dialect,
        *,
        key: tuple[str, ...] = ("call_id",),
        counters: bool = False,
    ) -> None:
        insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
        statement = insert(table).values({name: bindparam(name) for name in columns})
        excluded = statement.excluded
        if counters:
            # Statistics rows: add to what is there; ms_min and ms_max only widen.
            least = func.least if dialect.name == "postgresql" else func.min
            greatest = func.greatest if dialect.name == "postgresql" else func.max
            merge = {
                name: least(table.c[name], excluded[name])
                if name == "ms_min"
                else greatest(table.c[name], excluded[name])
                if name == "ms_max"
                else table.c[name] + excluded[name]
                for name in columns
                if name not in key
            }
        else:
            merge = {name: excluded[name] for name in columns if name not in key}
        statement = statement.on_conflict_do_update(index_elements=list(key), set_=merge)
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        if compiled.positiontup != list(columns):
            raise AssertionError(
                f"{dialect.name}: parameters in {compiled.positiontup}, not {columns}"
            )
        self._convert = {
            name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in columns
        }
        # Per row: the columns that have a converter, except `saved_at`, one per batch.
        self._per_row = [
            (i, convert)
            for i, (name, convert) in enumerate(self._convert.items())
            if convert is not None and name != "saved_at"
        ]

    def converter(self, name: str) -> Callable[[Any], Any]:
        """What the driver takes for a value of column `name`."""
        convert = self._convert[name]
        return (lambda value: value) if convert is None else convert

    def value(self, name: str, value: Any) -> Any:
        """`value` as the driver takes it for column `name`."""
        convert = self._convert[name]
        return value if convert is None else convert(value)

    def row(self, values: list[Any]) -> list[Any]:
        """`values` (in `columns` order) as the driver takes them, converted in place."""
        for i, convert in self._per_row:
            values[i] = convert(values[i])
        return values


def sqlite_statements() -> dict[str, str]:
    """The SQLite upserts `JourneyStore` writes with, by table: the classic AGI script
    writes its journey with them through sqlite3 (callpop/classic_services.py)."""
    dialect = sqlite_dialect()
    return {
        "calls": _Upsert(calls, CALL_COLUMNS, dialect).sql,
        "journeys": _Upsert(journeys, JOURNEY_COLUMNS, dialect).sql,
        "journey_nodes": _Upsert(
            journey_nodes, NODE_COLUMNS, dialect, key=NODE_KEY, counters=True
        ).sql,
        "journey_outcomes": _Upsert(
            journey_outcomes, OUTCOME_COLUMNS, dialect, key=OUTCOME_KEY, counters=True
        ).sql,
    }


class JourneyStore:
    """Journeys written and read back by call id.

    On a SQLite file a batch is written by `write_sqlite` on the store's own connection,
    on a thread of its own (`SqliteThread`): one hop off the event loop per batch, where
    aiosqlite's statement-by-statement trips cost ~9, each waiting for a turn of a loop
    that may be busy with thousands of calls. `aclose` closes that connection (as does
    disposing of the engine); a later write opens it again. A SQLite database the store
    cannot open a second connection to (`:memory:`, a `file:` URI) is written by the same
    function on the engine's connection, on aiosqlite's thread. PostgreSQL is written
    through asyncpg's connection from the engine's pool.
    """

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        dialect = engine.dialect
        self._postgres = dialect.name == "postgresql"
        self._calls = _Upsert(calls, CALL_COLUMNS, dialect)
        self._journeys = _Upsert(journeys, JOURNEY_COLUMNS, dialect)
        self._nodes = _Upsert(journey_nodes, NODE_COLUMNS, dialect, key=NODE_KEY, counters=True)
        self._outcomes = _Upsert(
            journey_outcomes, OUTCOME_COLUMNS, dialect, key=OUTCOME_KEY, counters=True
        )
        # SQLAlchemy's converters, so the rows read back as if SQLAlchemy had written them.
        self._form = SqliteForm(
            statements={
                "calls": self._calls.sql,
                "journeys": self._journeys.sql,
                "journey_nodes": self._nodes.sql,
                "journey_outcomes": self._outcomes.sql,
            },
            time=self._calls.converter("started_at"),
            json=self._journeys.converter("data"),
        )
        path = reader_path(engine.url)
        self._thread = None if path is None else SqliteThread(path, name="journeys-sqlite")
        if self._thread is not None:
            event.listen(engine.sync_engine, "engine_disposed", self._on_disposed)

    def _rows(
        self, entry: Entry, now: datetime, saved_at: Any, rollup: Rollup
    ) -> tuple[list[Any], list[Any]]:
        journey, data = entry
        started = started_of(journey, now)
        rollup.add(interval_of(started), data)
        call_row = self._calls.row(call_values(journey, started))
        return call_row, self._journeys.row([call_row[0], data, saved_at])

    async def save(self, journey: Journey, data: Mapping[str, Any] | None = None) -> None:
        """Write one journey now, in its own transaction."""
        await self.write([(journey, journey.to_dict() if data is None else data)])

    async def write(self, entries: Sequence[Entry]) -> None:
        """Write `entries` in one transaction: all of them, or none (the error is raised)."""
        now = self._clock()
        if self._thread is not None:
            form = self._form
            await self._thread.run(
                lambda conn, abandoned: write_sqlite(conn, entries, now, form, abandoned)
            )
        elif self._postgres:
            await self._write_postgres(entries, now)
        else:
            await self._write_on_engine(entries, now)

    async def _write_postgres(self, entries: Sequence[Entry], now: datetime) -> None:
        saved_at = self._journeys.value("saved_at", now)
        call_rows: list[list[Any]] = []
        journey_rows: list[list[Any]] = []
        rollup = Rollup()
        for entry in entries:
            call_row, journey_row = self._rows(entry, now, saved_at, rollup)
            call_rows.append(call_row)
            journey_rows.append(journey_row)
        ids = [row[0] for row in call_rows]
        async with self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            async with driver.transaction():
                take_back(rollup, await driver.fetch(previous_sql(postgres=True), ids))
                await driver.executemany(self._calls.sql, call_rows)
                await driver.executemany(self._journeys.sql, journey_rows)
                nodes = [self._nodes.row(row) for row in rollup.node_rows()]
                outcomes = [self._outcomes.row(row) for row in rollup.outcome_rows()]
                if nodes:
                    await driver.executemany(self._nodes.sql, nodes)
                if outcomes:
                    await driver.executemany(self._outcomes.sql, outcomes)

    async def _write_on_engine(self, entries: Sequence[Entry], now: datetime) -> None:
        # aiosqlite has no public way to run a function on its thread: `_execute` is the
        # one its own methods use, `_conn` its sqlite3 connection. Only databases nobody
        # else can open (in memory) come here, so only tests and trials pay for it.
        abandoned = threading.Event()
        async with self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            try:
                await driver._execute(
                    write_sqlite, driver._conn, entries, now, self._form, abandoned
                )
            except asyncio.CancelledError:
                abandoned.set()  # the function still runs, and ends its transaction
                raise

    async def get(self, call_id: str) -> dict[str, Any] | None:
        """The journey as saved (`Journey.to_dict()`), or None."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(journeys.c.data).where(journeys.c.call_id == call_id))
            ).first()
        return None if row is None else dict(row[0])

    async def aclose(self) -> None:
        """Close the store's own connection, once the writes handed to it are done."""
        if self._thread is not None:
            await self._thread.aclose()

    def _on_disposed(self, _engine: object) -> None:
        if self._thread is not None:
            self._thread.close()


class JourneyWriter:
    """Journeys written off the calls' path: `save` queues, one task writes in batches.

    A batch is whatever queued while the previous one was being written, at most
    `max_batch`, in one transaction (a few driver round trips per batch, not per call).
    `save` returns as soon as the journey is queued; when `max_pending` are waiting it
    waits for room (backpressure: the caller is already back in the dialplan), and a
    journey is never dropped, even when the saving task is cancelled while it waits.
    A batch that fails is logged once and written again journey by journey, so one bad
    row cannot lose the others. `aclose` writes everything queued before it returns;
    a journey saved after that is written at once, on its own.

    With `durable_within_s` > 0, `save` then waits until the journey's batch is
    committed, for at most that long: the runner saves before handing the call back, so
    what Asterisk routes is on disk. A wait that runs out is logged once; from then on
    `save` only queues, until the writer has written everything queued (logged once too):
    during a database outage callers are not delayed at all, and their journeys are kept
    in memory (lost if the process dies then: the price of not holding callers).
    """

    def __init__(
        self,
        store: JourneyStore,
        *,
        max_pending: int = 10_000,
        max_batch: int = 500,
        durable_within_s: float = 0.0,
    ) -> None:
        self._store = store
        self._max_pending = max_pending
        self._max_batch = max_batch
        self._durable_within_s = durable_within_s
        self._late = False  # a wait for a commit ran out; not waiting until caught up
        self._pending: deque[Entry] = deque()
        # Set once its journey's batch is written (or failed for good); same order.
        self._written: deque[asyncio.Future[None]] = deque()
        self._wake = asyncio.Event()  # set while something is pending or closing
        self._room = asyncio.Event()  # set while fewer than max_pending are pending
        self._room.set()
        self._idle = asyncio.Event()  # set while nothing is pending or being written
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Journeys queued and not yet written."""
        return len(self._pending)

    def start(self) -> None:
        """Start the writing task (`save` also starts it when needed)."""
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="journey-writer")

    async def save(self, journey: Journey, data: Mapping[str, Any] | None = None) -> None:
        entry = (journey, journey.to_dict() if data is None else data)
        if self._closed:
            await self._store.write([entry])
            return
        if len(self._pending) >= self._max_pending:
            try:
                while len(self._pending) >= self._max_pending:
                    self._room.clear()
                    await self._room.wait()
            except asyncio.CancelledError:
                # The call is over either way; its journey still goes in, one over the bound.
                self._enqueue(entry)
                raise
        written = self._enqueue(entry)
        if self._durable_within_s <= 0 or self._late:
            return
        try:
            async with asyncio.timeout(self._durable_within_s):
                # Shielded: a cancelled caller leaves its journey queued, not unwritten.
                await asyncio.shield(written)
        except TimeoutError:
            if not self._late:
                self._late = True
                log.warning(
                    "journeys are not committed within %gs: calls are handed back without "
                    "waiting for the database until the writer catches up",
                    self._durable_within_s,
                )

    def _enqueue(self, entry: Entry) -> asyncio.Future[None]:
        written = asyncio.get_running_loop().create_future()
        self._pending.append(entry)
        self._written.append(written)
        self._idle.clear()
        self._wake.set()
        if self._task is None:
            self.start()
        return written

    async def flush(self) -> None:
        """Wait until every journey queued so far is written."""
        if self._task is None and self._pending:
            self.start()
        await self._idle.wait()

    async def aclose(self) -> None:
        """Write every queued journey, then stop the task."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task
        # Only if the task was cancelled (its loop torn down) can journeys remain.
        while self._pending:
            await self._write(self._take())

    def _take(self) -> list[Entry]:
        count = min(len(self._pending), self._max_batch)
        batch = [self._pending.popleft() for _ in range(count)]
        if len(self._pending) < self._max_pending:
            self._room.set()
        return batch

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                if self._late:
                    self._late = False
                    log.info("journeys are committed in time again: calls wait for their commit")
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._write(self._take())

    async def _write(self, batch: list[Entry]) -> None:
        try:
            await self._write_batch(batch)
        finally:
            # Written, or failed for good (logged): either way nobody waits any longer.
            for _ in batch:
                written = self._written.popleft()
                if not written.done():
                    written.set_result(None)

    async def _write_batch(self, batch: list[Entry]) -> None:
        try:
            await self._store.write(batch)
            return
        except Exception as exc:
            log.warning(
                "writing %d journeys in one transaction failed (%r); writing them one by one",
                len(batch),
                exc,
            )
        for entry in batch:
            try:
                await self._store.write([entry])
            except Exception as exc:
                log.error(
                    "the journey of call %r could not be written: %r",
                    entry[0].call_id,
                    exc,
                    extra={"fields": {"call_id": entry[0].call_id}},
                )
