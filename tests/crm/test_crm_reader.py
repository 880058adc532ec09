"""The SQLite store's reads on the loop thread (`SqliteReader`): the same answers as the
async engine, the latest commits, and the async path whenever the reader cannot answer."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import string
from collections.abc import Awaitable, Coroutine
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_adapter.port import CaseStatus, CustomerDraft, Interaction, NotFound
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.reader import SqliteReader
from crm_adapter.sql.store import SqlStore

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
T = TypeVar("T")


def answered_at_once(coro: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never waits: no hop to another thread, no I/O."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the read waited (it left the event loop thread)")


async def waits(awaitable: Awaitable[T]) -> tuple[bool, T]:
    """(whether it suspended at least once, its result)."""
    task = asyncio.ensure_future(awaitable)
    await asyncio.sleep(0)
    suspended = not task.done()
    return suspended, await task


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file, copied for each example (migrating takes longer)."""
    path = tmp_path_factory.mktemp("template") / "callpop.db"

    async def make() -> None:
        engine = create_engine(f"sqlite:///{path}")
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(make())
    return path


_examples = count()

# Few numbers and accounts, so generated customers share them (a household, a typo'd
# import) and the lookups find several, none, or one.
numbers = st.sampled_from(
    ["5551230001", "5551230002", "+15551230003", "(555) 123-0004", "+44 20 7946 0958"]
)
customers = st.lists(
    st.builds(
        CustomerDraft,
        name=st.text(string.ascii_letters + " 'é", min_size=1, max_size=12).filter(str.strip),
        phones=st.lists(numbers, max_size=3).map(tuple),
        account=st.none() | st.sampled_from(["A1", "A2", "A3"]),
        tier=st.none() | st.sampled_from(["vip", "gold"]),
        language=st.none() | st.just("fr-CA"),
        email=st.none() | st.just("a@example.org"),
        notes=st.sampled_from(["", "prefers mornings"]),
    ),
    max_size=6,
)
cases = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from(["open", "pending", "closed"]), st.integers(0, 3)),
    max_size=8,
)
calls = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.booleans()), max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drafts=customers, case_rows=cases, call_rows=calls)
def test_the_reader_answers_as_the_async_engine_does(
    template: Path,
    drafts: list[CustomerDraft],
    case_rows: list[tuple[int, CaseStatus, int]],
    call_rows: list[tuple[int, int, bool]],
) -> None:
    path = template.with_name(f"example-{next(_examples)}.db")
    shutil.copyfile(template, path)

    async def compare() -> None:
        engine = create_engine(f"sqlite:///{path}")
        reference = SqlStore(engine, sqlite_reader=False, clock=lambda: T0)
        fast = SqlStore(engine, clock=lambda: T0)
        try:
            ids = []
            for draft in drafts:
                try:
                    ids.append((await reference.create_customer(draft)).id)
                except Exception:  # an account already taken: that customer is not there
                    continue
            ids += ["999", "x"]  # nobody
            for who, status, days in case_rows:
                if who < len(ids) - 2:
                    await reference.add_case(
                        ids[who], "subject", status, opened=T0 - timedelta(days=days)
                    )
            for n, (who, minutes, ended) in enumerate(call_rows):
                started = T0 + timedelta(minutes=minutes)
                await reference.log_interaction(
                    Interaction(
                        f"c{n}",
                        started=started,
                        customer_id=ids[who % len(ids)],
                        agent="alice",
                        journey="Billing",
                        ended=started + timedelta(seconds=30) if ended else None,
                    )
                )

            for number in [
                "5551230001",
                "+15551230002",
                "555-123-0003",
                "5551230004",
                "00442079460958",
                "5559999999",
                "anonymous",
            ]:
                assert await fast.find_by_phone(number) == await reference.find_by_phone(number)
            for account in ["A1", "A2", "A3", " A1 ", "A9", ""]:
                assert await fast.find_by_account(account) == await reference.find_by_account(
                    account
                )
            for cid in ids:
                try:
                    expected = await reference.get_customer(cid)
                except NotFound:
                    with pytest.raises(NotFound):
                        await fast.get_customer(cid)
                else:
                    assert await fast.get_customer(cid) == expected
                assert await fast.open_cases(cid) == await reference.open_cases(cid)
                for limit in (1, 3, 200):
                    assert await fast.recent_interactions(
                        cid, limit
                    ) == await reference.recent_interactions(cid, limit)
            assert fast.reads_on_loop
        finally:
            await engine.dispose()

    asyncio.run(compare())


async def test_every_read_of_the_ivr_and_the_pop_answers_without_leaving_the_loop(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    await upgrade(engine)
    store = SqlStore(engine, clock=lambda: T0)
    try:
        ada = await store.create_customer(
            CustomerDraft("Ada", phones=("5551234567",), account="4711")
        )
        case = await store.add_case(ada.id, "Router")
        await store.log_interaction(Interaction("c1", started=T0, customer_id=ada.id))

        assert answered_at_once(store.find_by_phone("(555) 123-4567")) == [ada]
        assert answered_at_once(store.find_by_account("4711")) == [ada]
        assert answered_at_once(store.get_customer(ada.id)) == ada
        assert answered_at_once(store.open_cases(ada.id)) == [case]
        assert [i.call_id for i in answered_at_once(store.recent_interactions(ada.id))] == ["c1"]
    finally:
        await engine.dispose()


async def test_a_customer_committed_by_another_connection_is_found(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'callpop.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    store = SqlStore(engine)
    importer_engine = create_engine(url)  # an import running beside the server
    try:
        assert await store.find_by_phone("5551234567") == []
        assert store.reads_on_loop

        imported = await SqlStore(importer_engine, sqlite_reader=False).create_customer(
            CustomerDraft("Imported", phones=("+15551234567",))
        )

        assert answered_at_once(store.find_by_phone("5551234567")) == [imported]
    finally:
        await importer_engine.dispose()
        await engine.dispose()


async def test_a_write_in_progress_neither_blocks_the_reader_nor_shows(tmp_path: Path) -> None:
    path = tmp_path / "callpop.db"
    engine = create_engine(f"sqlite:///{path}")
    await upgrade(engine)
    store = SqlStore(engine)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        ada = await store.create_customer(CustomerDraft("Ada", phones=("5551234567",)))
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE customers SET name = 'Not yet' WHERE id = ?", (int(ada.id),))

        assert answered_at_once(store.find_by_phone("5551234567")) == [ada]

        writer.execute("COMMIT")
        assert answered_at_once(store.get_customer(ada.id)).name == "Not yet"
    finally:
        writer.close()
        await engine.dispose()


async def test_when_the_reader_is_refused_the_engine_answers(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    await upgrade(engine)
    store = SqlStore(engine)
    try:
        ada = await store.create_customer(CustomerDraft("Ada", phones=("5551234567",)))
        assert answered_at_once(store.find_by_phone("5551234567")) == [ada]

        def busy(self: SqliteReader, sql: str, params: object) -> list[Any]:
            # What a WAL reader meets during recovery after a crash: with no busy
            # timeout on the loop, it is refused at once.
            raise sqlite3.OperationalError("database is locked")

        monkeypatch.setattr(SqliteReader, "rows", busy)

        suspended, found = await waits(store.find_by_phone("5551234567"))
        assert (suspended, found) == (True, [ada])
        assert await store.get_customer(ada.id) == ada
        assert store.reads_on_loop  # refused once is not refused forever
    finally:
        await engine.dispose()


async def test_an_in_memory_database_reads_through_the_engine() -> None:
    engine = create_engine("sqlite:///:memory:")
    await upgrade(engine)
    store = SqlStore(engine)
    try:
        ada = await store.create_customer(CustomerDraft("Ada", phones=("5551234567",)))
        suspended, found = await waits(store.find_by_phone("5551234567"))
        assert (suspended, found) == (True, [ada])
        assert not store.reads_on_loop
    finally:
        await engine.dispose()


def test_a_database_outside_wal_mode_gets_no_reader(tmp_path: Path) -> None:
    path = tmp_path / "rollback.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    assert SqliteReader.open(str(path)) is None
    assert SqliteReader.open(str(tmp_path / "missing.db")) is None


def test_the_reader_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    try:
        reader = SqliteReader.open(str(path))
        assert reader is not None
        with pytest.raises(sqlite3.OperationalError):
            reader.rows("INSERT INTO t VALUES (1)", ())
        reader.close()
    finally:
        conn.close()


async def test_the_reader_closes_with_the_engine_and_with_the_store(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    await upgrade(engine)
    store = SqlStore(engine)
    await store.find_by_phone("5551234567")
    assert store.reads_on_loop

    await engine.dispose()
    assert not store.reads_on_loop

    await store.find_by_phone("5551234567")  # a disposed engine can be used again
    assert store.reads_on_loop
    await store.aclose()
    assert not store.reads_on_loop
    await engine.dispose()
