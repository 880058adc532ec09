"""The built-in CRM store, the same specification on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.port import (
    CrmAdapter,
    CrmRejected,
    CrmUnavailable,
    CustomerDraft,
    Interaction,
    InteractionUpdate,
    NotFound,
)
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.store import SqlStore
from crm_adapter.sql.tables import outbox
from ivr.loop_concurrency import LOOP

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

FIVE_SPELLINGS = ["+15551234567", "15551234567", "5551234567", "0015551234567", "(555) 123-4567"]


@pytest.fixture
def store(engine: AsyncEngine) -> SqlStore:
    return SqlStore(engine, clock=lambda: T0)


def test_the_store_is_a_crm_adapter(store: SqlStore) -> None:
    assert isinstance(store, CrmAdapter)


@pytest.mark.parametrize("spelling", FIVE_SPELLINGS)
async def test_every_caller_id_spelling_finds_the_same_customer(
    store: SqlStore, spelling: str
) -> None:
    ada = await store.create_customer(CustomerDraft("Ada Lovelace", phones=("555-123-4567",)))
    await store.create_customer(CustomerDraft("Someone Else", phones=("+15557654321",)))

    found = await store.find_by_phone(spelling)

    assert [c.id for c in found] == [ada.id]
    assert found[0].phones == ("+15551234567",)


@pytest.mark.parametrize("caller_id", ["", "anonymous", "Unknown", "123", "+1555123456789012"])
async def test_a_caller_id_that_is_no_number_finds_nobody(store: SqlStore, caller_id: str) -> None:
    await store.create_customer(CustomerDraft("Ada", phones=("5551234567",)))
    assert await store.find_by_phone(caller_id) == []


async def test_a_shared_number_finds_everyone_with_the_primary_holder_first(
    store: SqlStore,
) -> None:
    office = await store.create_customer(
        CustomerDraft("Office", phones=("5550001111", "5551234567"))
    )
    home = await store.create_customer(CustomerDraft("Home", phones=("5551234567",)))

    found = await store.find_by_phone("5551234567")

    assert [c.id for c in found] == [home.id, office.id]
    assert found[1].phones == ("+15550001111", "+15551234567")


async def test_a_customer_keeps_every_field(store: SqlStore) -> None:
    draft = CustomerDraft(
        "Grace Hopper",
        phones=("+44 20 7946 0958", "5551234567"),
        external_id="ext-1",
        account="ACC-77",
        tier="gold",
        language="en-GB",
        email="grace@example.org",
        notes="prefers mornings",
    )
    created = await store.create_customer(draft)

    again = await store.get_customer(created.id)

    assert again == created
    assert again.phones == ("+442079460958", "+15551234567")
    assert (again.account, again.tier, again.language) == ("ACC-77", "gold", "en-GB")


async def test_find_by_account_trims_what_the_caller_typed(store: SqlStore) -> None:
    created = await store.create_customer(CustomerDraft("Ada", account="4711"))
    assert [c.id for c in await store.find_by_account(" 4711 ")] == [created.id]
    assert await store.find_by_account("4712") == []
    assert await store.find_by_account("") == []


@pytest.mark.parametrize("customer_id", ["999", "abc", "", "1; DROP TABLE customers", "9" * 40])
async def test_an_unknown_customer_id_is_not_found(store: SqlStore, customer_id: str) -> None:
    with pytest.raises(NotFound):
        await store.get_customer(customer_id)


async def test_hostile_text_is_stored_as_data(store: SqlStore) -> None:
    name = "Robert'); DROP TABLE customers;-- <script>\x00"
    created = await store.create_customer(
        CustomerDraft(name.replace("\x00", ""), phones=("5551234567",))
    )
    assert (await store.find_by_phone("5551234567"))[0].name == created.name
    assert await store.find_by_account("' OR '1'='1") == []


async def test_a_customer_needs_real_phone_numbers(store: SqlStore) -> None:
    with pytest.raises(CrmRejected, match="not a phone number"):
        await store.create_customer(CustomerDraft("Ada", phones=("call me",)))


async def test_an_account_belongs_to_one_customer(store: SqlStore) -> None:
    await store.create_customer(CustomerDraft("Ada", account="4711"))
    with pytest.raises(CrmRejected):
        await store.create_customer(CustomerDraft("Bob", account="4711"))


async def test_text_longer_than_its_column_is_refused_on_every_database(store: SqlStore) -> None:
    with pytest.raises(CrmRejected, match="name is longer than 200"):
        await store.create_customer(CustomerDraft("x" * 201))


async def test_open_cases_leave_out_closed_ones_newest_first(store: SqlStore) -> None:
    ada = await store.create_customer(CustomerDraft("Ada"))
    old = await store.add_case(ada.id, "Router", "open", opened=T0 - timedelta(days=3))
    await store.add_case(ada.id, "Invoice", "closed", opened=T0 - timedelta(days=2))
    new = await store.add_case(ada.id, "Refund", "pending", opened=T0 - timedelta(days=1))

    found = await store.open_cases(ada.id)

    assert [c.id for c in found] == [new.id, old.id]
    assert found[0].opened == T0 - timedelta(days=1)
    assert found[0].opened.tzinfo is not None


async def test_logging_an_interaction_keeps_it_by_call_id(store: SqlStore) -> None:
    logged = Interaction(
        "1700000000.42", started=T0, customer_id="7", agent="alice", journey="Billing > Payment"
    )
    await store.log_interaction(logged)
    assert await store.get_interaction("1700000000.42") == logged


async def test_logging_the_same_call_again_replaces_it(store: SqlStore) -> None:
    await store.log_interaction(Interaction("c1", started=T0, agent="alice"))
    await store.log_interaction(Interaction("c1", started=T0, agent="bob"))
    assert (await store.get_interaction("c1")).agent == "bob"


async def test_an_update_changes_only_what_it_names(store: SqlStore) -> None:
    await store.log_interaction(
        Interaction("c1", started=T0, customer_id="7", agent="alice", notes="first")
    )
    ended = T0 + timedelta(minutes=4)

    updated = await store.update_interaction(
        "c1", InteractionUpdate(disposition="resolved", ended=ended)
    )

    assert (updated.disposition, updated.ended, updated.notes, updated.agent) == (
        "resolved",
        ended,
        "first",
        "alice",
    )
    assert await store.get_interaction("c1") == updated


async def test_updating_an_unknown_call_is_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await store.update_interaction("nope", InteractionUpdate(disposition="x"))


async def test_recent_interactions_are_the_customers_newest_first(store: SqlStore) -> None:
    for minute in range(4):
        await store.log_interaction(
            Interaction(f"c{minute}", started=T0 + timedelta(minutes=minute), customer_id="7")
        )
    await store.log_interaction(Interaction("other", started=T0, customer_id="8"))

    found = await store.recent_interactions("7", limit=3)

    assert [i.call_id for i in found] == ["c3", "c2", "c1"]


async def test_write_backs_go_to_the_outbox_in_call_order_when_asked(engine: AsyncEngine) -> None:
    woken = []
    store = SqlStore(
        engine,
        outbox_operations={"log_interaction", "update_interaction"},
        on_enqueue=lambda: woken.append(1),
        clock=lambda: T0,
    )
    await store.log_interaction(Interaction("c1", started=T0))
    await store.update_interaction("c1", InteractionUpdate(disposition="sale"))

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(outbox.c.seq, outbox.c.operation, outbox.c.payload).order_by(outbox.c.seq)
            )
        ).all()

    assert [(r.seq, r.operation) for r in rows] == [
        (1, "log_interaction"),
        (2, "update_interaction"),
    ]
    assert rows[1].payload["disposition"] == "sale"
    assert rows[1].payload["started"] == "2026-03-02T09:30:00.000Z"
    assert len(woken) == 2


async def test_without_an_external_crm_nothing_is_queued(
    store: SqlStore, engine: AsyncEngine
) -> None:
    await store.log_interaction(Interaction("c1", started=T0))
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(outbox)) == 0


async def test_an_unreachable_postgresql_is_crm_unavailable() -> None:
    engine = create_engine("postgresql://postgres@127.0.0.1:1/none")
    try:
        with pytest.raises(CrmUnavailable):
            await SqlStore(engine).find_by_phone("5551234567")
    finally:
        await engine.dispose()


async def test_a_damaged_sqlite_file_is_crm_unavailable(tmp_path: Path) -> None:
    damaged = tmp_path / "callpop.db"
    damaged.write_bytes(b"this is not a database\n" * 200)
    engine = create_engine(f"sqlite:///{damaged}")
    try:
        with pytest.raises(CrmUnavailable):
            await SqlStore(engine).find_by_phone("5551234567")
    finally:
        await engine.dispose()


async def test_the_ivr_lookup_on_a_shared_number_carries_every_candidate_and_no_customer(
    store: SqlStore,
) -> None:
    from crm_adapter.lookup import lookup_within_budget
    from ivr.events import LookupStatus

    home = await store.create_customer(CustomerDraft(name="Chris Home", phones=("+15551230700",)))
    office = await store.create_customer(CustomerDraft(name="Chris Office", phones=("5551230700",)))
    outcome = await lookup_within_budget(store, "phone", "(555) 123-0700", 5.0, concurrency=LOOP)
    assert outcome.status is LookupStatus.FOUND
    assert outcome.customer is None
    assert outcome.candidates == (home.id, office.id)
    finished = outcome.finished(at_ms=10)
    assert (finished.matches, finished.customer) == (2, None)
