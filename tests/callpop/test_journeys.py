"""Journeys are saved by call id: what the screen-pop and analytics read back; `serve`
writes them in batches off the calls' path (`JourneyWriter`).
On SQLite and PostgreSQL (the `engine` fixture of tests/conftest.py)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.journeys import JourneyStore, JourneyWriter
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.tables import calls, journeys
from ivr.journey import Journey, JourneyOutcome, JourneyStep


def _journey(call_id: str = "1795389902.7", name: str = "Alice") -> Journey:
    journey = Journey(
        call_id=call_id,
        flow="main",
        caller_number="+15551234567",
        caller_name=name,
        dnis="7000",
        started_at="2026-11-24T15:00:00.000Z",
    )
    journey.steps.append(
        JourneyStep(
            flow="main",
            node="main_menu",
            kind="menu",
            entered_ms=0,
            left_ms=4000,
            keys=["1"],
            result="1",
        )
    )
    journey.outcome = JourneyOutcome("queue", "billing", 1, "option", 4200)
    return journey


async def test_a_saved_journey_reads_back_by_call_id(engine: AsyncEngine) -> None:
    store = JourneyStore(engine)
    await store.save(_journey())
    saved = await store.get("1795389902.7")
    assert saved is not None
    assert saved["steps"][0]["node"] == "main_menu"
    assert saved["outcome"]["target"] == "billing"


async def test_saving_twice_replaces_instead_of_duplicating(engine: AsyncEngine) -> None:
    store = JourneyStore(engine)
    await store.save(_journey())
    second = _journey()
    second.outcome = JourneyOutcome("hangup", None, None, "caller-hangup", 9000)
    await store.save(second)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(calls.c.outcome))).all()
    assert [r.outcome for r in rows] == ["hangup"]


async def test_an_absurdly_long_caller_name_is_clipped_not_refused(engine: AsyncEngine) -> None:
    store = JourneyStore(engine)
    await store.save(_journey(name="x" * 10_000))
    async with engine.connect() as conn:
        name = (await conn.execute(select(calls.c.caller_name))).scalar_one()
    assert len(name) == 200


async def test_an_unknown_call_id_reads_as_none(engine: AsyncEngine) -> None:
    assert await JourneyStore(engine).get("nope") is None


async def test_a_database_in_memory_keeps_its_journeys_too() -> None:
    # No second connection can open it: the store writes on the engine's own.
    engine = create_engine("sqlite:///:memory:")
    try:
        await upgrade(engine)
        store = JourneyStore(engine)
        await store.save(_journey())
        await store.save(_journey(name="Bob"))
        saved = await store.get("1795389902.7")
        assert saved is not None and saved["caller"]["name"] == "Bob"
    finally:
        await engine.dispose()


async def test_a_closed_store_still_writes_what_it_is_given(engine: AsyncEngine) -> None:
    store = JourneyStore(engine)
    await store.save(_journey("before"))
    await store.aclose()
    await store.save(_journey("after"))
    await store.aclose()
    assert await _saved_ids(engine) == ["after", "before"]


# --- the journey writer: batches off the call's path -------------------------------------


class RecordingStore(JourneyStore):
    """The real store, noting the size of each transaction it is asked to write, and
    holding writes while `gate` is clear (a database that is slow to answer)."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.batches: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def write(self, entries: Sequence[tuple[Journey, Mapping[str, Any]]]) -> None:
        await self.gate.wait()
        self.batches.append(len(entries))
        await super().write(entries)


async def _saved_ids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        ids = (await conn.execute(select(journeys.c.call_id))).scalars().all()
        outcomes = (await conn.execute(select(calls.c.call_id))).scalars().all()
    assert sorted(ids) == sorted(outcomes), "a journey row without its call row, or the reverse"
    return sorted(ids)


async def test_journeys_queued_meanwhile_are_written_in_one_transaction(
    engine: AsyncEngine,
) -> None:
    store = RecordingStore(engine)
    writer = JourneyWriter(store)
    store.gate.clear()  # the first write is slow: 100 more calls end meanwhile
    await writer.save(_journey("first"))
    await asyncio.sleep(0)
    for n in range(100):
        await writer.save(_journey(f"c.{n}"))
    assert writer.pending == 100
    store.gate.set()
    await writer.flush()
    assert store.batches == [1, 100]
    assert len(await _saved_ids(engine)) == 101
    saved = await store.get("c.42")
    assert saved is not None and saved["outcome"]["target"] == "billing"
    await writer.aclose()


async def test_a_batch_is_capped(engine: AsyncEngine) -> None:
    store = RecordingStore(engine)
    writer = JourneyWriter(store, max_batch=40)
    store.gate.clear()
    for n in range(100):
        await writer.save(_journey(f"c.{n}"))
    store.gate.set()
    await writer.aclose()
    assert store.batches == [40, 40, 20]


async def test_the_writer_stores_what_the_store_stores(engine: AsyncEngine) -> None:
    writer = JourneyWriter(JourneyStore(engine))
    await writer.save(_journey())
    second = _journey(name="x" * 10_000)  # the same call saved again: it replaces the first
    second.outcome = JourneyOutcome("hangup", None, None, "caller-hangup", 9000)
    await writer.save(second, second.to_dict())
    await writer.aclose()
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(calls.c.caller_name, calls.c.outcome, calls.c.ended_at))
        ).all()
    assert [(len(r.caller_name), r.outcome) for r in rows] == [(200, "hangup")]
    assert rows[0].ended_at == datetime(2026, 11, 24, 15, 0, 9, tzinfo=UTC)


async def test_closing_writes_every_queued_journey_first(engine: AsyncEngine) -> None:
    store = RecordingStore(engine)
    writer = JourneyWriter(store, max_batch=50)
    store.gate.clear()
    for n in range(300):
        await writer.save(_journey(f"c.{n}"))
    closing = asyncio.create_task(writer.aclose())
    await asyncio.sleep(0)
    store.gate.set()
    await closing
    assert len(await _saved_ids(engine)) == 300
    # After closing, a late journey is written at once rather than lost.
    await writer.save(_journey("late"))
    assert "late" in await _saved_ids(engine)


async def test_a_full_queue_makes_the_saver_wait_and_drops_nothing(engine: AsyncEngine) -> None:
    store = RecordingStore(engine)
    writer = JourneyWriter(store, max_pending=3, max_batch=10)
    store.gate.clear()
    await writer.save(_journey("in-flight"))
    await asyncio.sleep(0)  # taken by the writer, held by the slow database
    for n in range(3):
        await writer.save(_journey(f"c.{n}"))
    waiting = asyncio.create_task(writer.save(_journey("fourth")))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    # A call cancelled while it waits for room still leaves its journey behind.
    cancelled = asyncio.create_task(writer.save(_journey("cancelled")))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    store.gate.set()
    await waiting
    await writer.aclose()
    assert await _saved_ids(engine) == sorted(
        ["in-flight", "c.0", "c.1", "c.2", "fourth", "cancelled"]
    )


async def _refuse_call_id(engine: AsyncEngine, call_id: str) -> None:
    # The database refusing one row, as a constraint or a full disk would.
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(
                text(
                    "CREATE FUNCTION refuse_bad() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.call_id = '{call_id}' THEN RAISE EXCEPTION 'refused'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse_bad BEFORE INSERT ON journeys "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_bad()"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse_bad BEFORE INSERT ON journeys "
                    f"WHEN NEW.call_id = '{call_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )


async def _allow_all(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "DROP TRIGGER refuse_bad ON journeys"
                if engine.dialect.name == "postgresql"
                else "DROP TRIGGER refuse_bad"
            )
        )
        if engine.dialect.name == "postgresql":
            await conn.execute(text("DROP FUNCTION refuse_bad()"))


async def test_a_refused_row_costs_only_its_own_journey(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await _refuse_call_id(engine, "bad")
    try:
        store = RecordingStore(engine)
        writer = JourneyWriter(store)
        store.gate.clear()
        for call_id in ("a", "b", "bad", "c", "d"):
            await writer.save(_journey(call_id))
        store.gate.set()
        await writer.aclose()
    finally:
        await _allow_all(engine)
    assert await _saved_ids(engine) == ["a", "b", "c", "d"]
    # One warning for the batch, one error for the refused journey: no traceback per call.
    assert [(r.levelname, r.exc_info is None) for r in caplog.records] == [
        ("WARNING", True),
        ("ERROR", True),
    ]
    assert "'bad'" in caplog.records[1].getMessage()


async def test_a_journey_that_cannot_be_encoded_costs_only_itself(engine: AsyncEngine) -> None:
    writer = JourneyWriter(JourneyStore(engine))
    await writer.save(_journey("a"))
    await writer.save(_journey("odd"), {"not json": object()})
    await writer.save(_journey("b"))
    await writer.aclose()
    assert await _saved_ids(engine) == ["a", "b"]


# -- stored before the call is handed back ------------------------------------------------


async def test_a_durable_save_returns_once_its_batch_is_committed(engine: AsyncEngine) -> None:
    store = RecordingStore(engine)
    writer = JourneyWriter(store, durable_within_s=30.0)
    store.gate.clear()
    saving = asyncio.create_task(writer.save(_journey("held")))
    await asyncio.sleep(0.05)
    assert not saving.done()  # the database has not committed it yet
    store.gate.set()
    await asyncio.wait_for(saving, 10)
    # Returned only after the commit: the row is there the moment save() returns.
    assert await _saved_ids(engine) == ["held"]
    await writer.aclose()


async def test_a_slow_database_delays_a_call_by_the_bound_once_then_not_at_all(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "callpop.journeys")
    store = RecordingStore(engine)
    writer = JourneyWriter(store, durable_within_s=0.1)
    store.gate.clear()  # the database hangs
    await asyncio.wait_for(writer.save(_journey("first")), 5)  # waited the bound, then went on
    for n in range(50):
        # Late: queued without waiting (a wait would run out the 1 s below).
        await asyncio.wait_for(writer.save(_journey(f"c.{n}")), 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "not committed within 0.1s" in warnings[0]
    store.gate.set()
    await writer.flush()
    assert len(await _saved_ids(engine)) == 51
    assert [r.getMessage() for r in caplog.records][-1].startswith(
        "journeys are committed in time again"
    )
    # Caught up: calls wait for their commit again.
    store.gate.clear()
    saving = asyncio.create_task(writer.save(_journey("after")))
    await asyncio.sleep(0.05)
    assert not saving.done()
    store.gate.set()
    await saving
    await writer.aclose()


async def test_a_caller_cancelled_while_waiting_for_the_commit_leaves_the_journey_queued(
    engine: AsyncEngine,
) -> None:
    store = RecordingStore(engine)
    writer = JourneyWriter(store, durable_within_s=30.0)
    store.gate.clear()
    saving = asyncio.create_task(writer.save(_journey("shutdown")))
    await asyncio.sleep(0.05)
    saving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await saving
    store.gate.set()
    await writer.aclose()
    assert await _saved_ids(engine) == ["shutdown"]


async def test_a_write_cancelled_while_waiting_for_sqlites_lock_leaves_no_transaction_open(
    tmp_path: Path,
) -> None:
    # A call cancelled at shutdown while its journey waited for the write lock: the BEGIN
    # still runs on the store's thread once the lock is free. Left open on the store's
    # connection, that transaction would hold the lock and every later write would wait
    # out the busy timeout and fail.
    path = tmp_path / "callpop.db"
    engine = create_engine(f"sqlite:///{path}")
    await upgrade(engine)
    store = JourneyStore(engine)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        waiting = asyncio.create_task(store.save(_journey("1795389902.1")))
        await asyncio.sleep(0.3)  # in BEGIN IMMEDIATE, sleeping on the busy timeout
        waiting.cancel()
        await asyncio.sleep(0.1)  # the cancellation is delivered
        other.execute("ROLLBACK")  # the lock is free: the BEGIN it had sent goes through
        with pytest.raises(asyncio.CancelledError):
            await waiting
        async with asyncio.timeout(5):  # the busy timeout is 10 s
            await store.save(_journey("1795389902.2"))
        assert await store.get("1795389902.2") is not None
        assert await store.get("1795389902.1") is None
    finally:
        other.close()
        await engine.dispose()
