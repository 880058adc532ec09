"""The classic AGI script's services on sqlite3 alone give what `serve`'s give: the same
rows for a journey (written once, or again under its call id) and the same customers
for a lookup, on the same database."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.ami.queue_state import QueueState
from callpop.callbacks.store import CallbackStore
from callpop.classic_services import ClassicServices, ClassicSite, SqliteJourneys, site_of
from callpop.config import load_config
from callpop.flood import FloodStore
from callpop.journeys import JourneyStore, sqlite_statements
from callpop.queue_store import QueueStateReader, QueueStateStore
from crm_adapter.phone import PhoneNormaliser
from crm_adapter.port import CustomerDraft
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.sqlite_file import SqliteReader
from crm_adapter.sql.store import SqlStore
from ivr.actions import CallbackRequest
from ivr.events import CallbackRequested, CallbackStatus, FloodLooked, LookupStatus
from ivr.loader import load_dialplan
from tests.callpop.known_journeys import Call, run

SAVED_AT = datetime(2026, 12, 7, 16, 0, 0, 123456, tzinfo=UTC)
TABLES = ("calls", "journeys", "journey_nodes", "journey_outcomes")
LOOKUPS: list[tuple[Literal["phone", "account"], str]] = [
    ("phone", "555-123-4567"),  # two customers share it
    ("phone", "5559990000"),
    ("account", "4711"),
    ("phone", "anonymous"),
    ("account", "0"),
]


@pytest.fixture
async def databases(tmp_path: Path) -> tuple[Path, Path]:
    """Two migrated SQLite files: one written as serve writes, one as the script does."""
    first = tmp_path / "serve.db"
    engine = create_engine(f"sqlite:///{first}")
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    second = tmp_path / "script.db"
    shutil.copyfile(first, second)
    return first, second


def rows(database: Path) -> dict[str, list[Any]]:
    conn = sqlite3.connect(database)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in TABLES}
    finally:
        conn.close()


async def write_both(served: Path, scripted: Path, journey: Any, data: Any) -> None:
    engine = create_engine(f"sqlite:///{served}")
    try:
        await JourneyStore(engine, clock=lambda: SAVED_AT).save(journey, data)
    finally:
        await engine.dispose()
    script = SqliteJourneys(str(scripted), sqlite_statements(), clock=lambda: SAVED_AT)
    await script.save(journey, data)


@pytest.mark.parametrize("keys", ["1 1", "2 w w w", "0"])
async def test_a_journey_is_the_same_rows_as_serve_writes(
    databases: tuple[Path, Path], keys: str
) -> None:
    served, scripted = databases
    flows = load_dialplan(Path("dialplan")).flows
    journey, data = run(flows, "1795389902.6", Call(keys))
    await write_both(served, scripted, journey, data)
    assert rows(scripted) == rows(served)
    assert rows(served)["journeys"] and rows(served)["journey_nodes"]


async def test_a_journey_written_again_replaces_its_statistics_as_serve_does(
    databases: tuple[Path, Path],
) -> None:
    served, scripted = databases
    flows = load_dialplan(Path("dialplan")).flows
    first, first_data = run(flows, "1795389902.6", Call("1 1"))
    again, again_data = run(flows, "1795389902.6", Call("0"))
    await write_both(served, scripted, first, first_data)
    await write_both(served, scripted, again, again_data)
    assert rows(scripted) == rows(served)
    assert len(rows(served)["calls"]) == 1


async def test_lookups_find_what_the_built_in_store_finds(tmp_path: Path) -> None:
    database = tmp_path / "callpop.db"
    engine = create_engine(f"sqlite:///{database}")
    try:
        await upgrade(engine)
        store = SqlStore(engine)
        ada = await store.create_customer(
            CustomerDraft("Ada", phones=("5551234567",), account="4711", tier="vip")
        )
        await store.create_customer(CustomerDraft("Bob", phones=("+1 555 123 4567", "5559990000")))
        await store.add_case(ada.id, "Broken router")
        await store.add_case(ada.id, "Refund", status="closed")
        config = tmp_path / "callpop.yaml"
        config.write_text(f"database: sqlite:///{database}\n")
        site = site_of(load_config(config, {}))
        assert site is not None
        site = ClassicSite.of(site.to_dict())  # as the script reads it back from its cache
        assert site is not None
        reader = SqliteReader.open(site.database)
        assert reader is not None
        try:
            services = ClassicServices(site, reader)
            reference = SqlStore(engine, sqlite_reader=False)
            for by, value in LOOKUPS:
                found = await services.lookup(by, value, at_ms=7)
                if by == "phone":
                    expected = await reference.find_by_phone(value)
                else:
                    expected = await reference.find_by_account(value)
                assert found.matches == len(expected), (by, value)
                assert found.candidates == tuple(c.id for c in expected), (by, value)
            one = await services.lookup("account", "4711", at_ms=7)
            assert one.status is LookupStatus.FOUND
            assert one.customer is not None and one.customer["open_cases"] == 1
            assert one.customer["tier"] == "vip"
        finally:
            reader.close()
    finally:
        await engine.dispose()


def test_a_site_the_script_cannot_serve_with_sqlite3_alone_takes_the_whole_stack(
    tmp_path: Path,
) -> None:
    config = tmp_path / "callpop.yaml"
    config.write_text("database: postgresql://postgres@127.0.0.1/test\n")
    assert site_of(load_config(config, {})) is None
    config.write_text("database: 'sqlite:///:memory:'\n")
    assert site_of(load_config(config, {})) is None


def test_a_kept_site_that_is_not_one_is_refused() -> None:
    assert ClassicSite.of({"database": 1}) is None
    assert ClassicSite.of(None) is None
    good = ClassicSite("/x.db", 300, "US", ("011",), sqlite_statements(), 30.0).to_dict()
    assert ClassicSite.of(good) is not None
    assert ClassicSite.of({**good, "statements": {"calls": "x"}}) is None


async def classic_site(tmp_path: Path, database: Path) -> ClassicSite:
    config = tmp_path / "callpop.yaml"
    config.write_text(f"database: sqlite:///{database}\n")
    site = site_of(load_config(config, {}))
    assert site is not None
    return site


@dataclass
class ScriptSite:
    """A site's database as `serve` writes it, and the classic script's services on it."""

    engine: AsyncEngine
    site: ClassicSite
    services: ClassicServices


@pytest.fixture
async def script_site(tmp_path: Path) -> AsyncIterator[ScriptSite]:
    database = tmp_path / "callpop.db"
    engine = create_engine(f"sqlite:///{database}")
    try:
        await upgrade(engine)
        reader = SqliteReader.open(str(database))
        assert reader is not None
        try:
            site = await classic_site(tmp_path, database)
            services = ClassicServices(site, reader, clock=lambda: SAVED_AT)
            yield ScriptSite(engine, site, services)
        finally:
            reader.close()
    finally:
        await engine.dispose()


async def serve_reads(engine: AsyncEngine, queues: tuple[str, ...]) -> dict[str, Any]:
    """What `serve`'s reader answers at `SAVED_AT`, with the default max age."""
    store = QueueStateStore(engine, clock=lambda: SAVED_AT)
    reader = QueueStateReader(store, budget_s=1.0, max_age_s=30, clock=lambda: SAVED_AT)
    return dict(await reader.read(queues))


async def test_queue_state_and_the_flood_switch_read_what_serve_reads(
    script_site: ScriptSite,
) -> None:
    engine, services = script_site.engine, script_site.services
    assert (await services.flood_state(at_ms=3)) == FloodLooked(3)  # never set: off
    assert (await services.queue_state(("billing",), at_ms=3)).queues == {}
    written = SAVED_AT - timedelta(seconds=42)
    await QueueStateStore(engine, clock=lambda: written).write(
        [
            QueueState("billing", 4, 300, 3, 0, 1, 900, open=True, max_callers=10, full=False),
            QueueState("sales", 0, 0, 2, 2, 0, None, open=False, max_callers=0, full=True),
        ]
    )
    # callers have waited since the write; the lease holder vouched for it since
    vouched = SAVED_AT - timedelta(seconds=5)
    await QueueStateStore(engine, clock=lambda: vouched).vouch(["billing", "sales"])
    await FloodStore(engine).set(True, "known-outage")
    expected = await serve_reads(engine, ("billing", "sales", "support"))
    looked = await services.queue_state(("billing", "sales", "support"), at_ms=3)
    assert looked.queues == expected
    assert set(looked.queues) == {"billing", "sales"}
    assert looked.queues["billing"]["longest_wait_s"] == 342  # brought forward
    assert (await services.flood_state(at_ms=3)) == FloodLooked(3, True, "known-outage")
    await FloodStore(engine).set(False)
    assert (await services.flood_state(at_ms=4)) == FloodLooked(4)


async def test_queue_state_nobody_vouched_for_in_the_max_age_is_unknown_as_serve_reads_it(
    script_site: ScriptSite,
) -> None:
    engine, services = script_site.engine, script_site.services
    assert script_site.site.queue_state_max_age_s == 30  # queues.state_max_age_s's default
    full = QueueState("billing", 50, 600, 3, 0, 0, 3000, open=True, max_callers=50, full=True)
    open_ = QueueState("sales", 0, 0, 2, 2, 0, 0, open=True, max_callers=0, full=False)
    # AMI lost two minutes ago: billing's "full" was never vouched for since; sales, on
    # an Asterisk still connected, was 29 s ago
    await QueueStateStore(engine, clock=lambda: SAVED_AT - timedelta(minutes=2)).write(
        [full, open_]
    )
    vouched = SAVED_AT - timedelta(seconds=29)
    await QueueStateStore(engine, clock=lambda: vouched).vouch(["sales"])
    looked = await services.queue_state(("billing", "sales"), at_ms=3)
    assert set(looked.queues) == {"sales"}
    assert looked.queues == await serve_reads(engine, ("billing", "sales"))


CALLBACK_REQUESTS = [  # (call id, queue, typed number): the last one a replay
    ("1795389902.6", "billing", "555-123-4567"),
    ("1795389903.6", "sales", "5559990000"),
    ("1795389904.6", "billing", "+44 20 7946 0000"),
    ("1795389902.6", "billing", "555-123-4567"),
]


async def test_a_callback_is_the_row_callback_store_writes_at_the_same_place(
    databases: tuple[Path, Path], tmp_path: Path
) -> None:
    served, scripted = databases
    engine = create_engine(f"sqlite:///{served}")
    reader = SqliteReader.open(str(scripted))
    assert reader is not None
    try:
        store = CallbackStore(engine, clock=lambda: SAVED_AT)
        site = await classic_site(tmp_path, scripted)
        services = ClassicServices(site, reader, clock=lambda: SAVED_AT)
        phone = PhoneNormaliser(site.phone_region, site.international_prefixes)
        for call_id, queue, typed in CALLBACK_REQUESTS:
            request = CallbackRequest(
                queue=queue, number=typed, caller_id=False, caller_name="Ada\x07", waited_s=61.4
            )
            answer = await services.request_callback(request, call_id=call_id, at_ms=9)
            number = phone.normalise(typed)
            assert number is not None
            position = await store.request(
                call_id=call_id,
                queue=queue,
                number=number,
                caller_name="Ada\x07",
                waited_s=61.4,
                at=SAVED_AT,
            )
            assert answer == CallbackRequested(CallbackStatus.STORED, 9, position, number)
        assert [a.position for a in await store.listing()] == [1, 1, 2]
    finally:
        reader.close()
        await engine.dispose()
    both = [sqlite3.connect(path) for path in (served, scripted)]
    try:
        served_rows, scripted_rows = (
            c.execute("SELECT * FROM callbacks ORDER BY id").fetchall() for c in both
        )
    finally:
        for conn in both:
            conn.close()
    assert scripted_rows == served_rows and len(served_rows) == 3


async def test_a_callback_to_no_number_or_without_a_store_keeps_the_caller_on_the_line(
    tmp_path: Path,
) -> None:
    database = tmp_path / "callpop.db"
    engine = create_engine(f"sqlite:///{database}")
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    reader = SqliteReader.open(str(database))
    assert reader is not None
    try:
        services = ClassicServices(await classic_site(tmp_path, database), reader)
        bad = CallbackRequest(
            queue="billing", number="12", caller_id=True, caller_name="", waited_s=0
        )
        answer = await services.request_callback(bad, call_id="1.1", at_ms=1)
        assert answer.status is CallbackStatus.INVALID_NUMBER
        good = CallbackRequest(
            queue="billing", number="5551234567", caller_id=True, caller_name="", waited_s=0
        )
        conn = sqlite3.connect(database)
        conn.execute("DROP TABLE callbacks")
        conn.commit()
        conn.close()
        answer = await services.request_callback(good, call_id="1.1", at_ms=1)
        assert answer == CallbackRequested(CallbackStatus.UNAVAILABLE, 1)
    finally:
        reader.close()
