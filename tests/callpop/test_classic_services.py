"""The classic AGI script's services on sqlite3 alone give what `serve`'s give: the same
rows for a journey (written once, or again under its call id) and the same customers
for a lookup, on the same database."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from callpop.classic_services import ClassicServices, ClassicSite, SqliteJourneys, site_of
from callpop.config import load_config
from callpop.journeys import JourneyStore, sqlite_statements
from crm_adapter.port import CustomerDraft
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.sqlite_file import SqliteReader
from crm_adapter.sql.store import SqlStore
from ivr.events import LookupStatus
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
    good = ClassicSite("/x.db", 300, "US", ("011",), sqlite_statements()).to_dict()
    assert ClassicSite.of(good) is not None
    assert ClassicSite.of({**good, "statements": {"calls": "x"}}) is None
