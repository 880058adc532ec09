"""Callers' PINs in the built-in store: kept as argon2id hashes, checked against the
customer's count of wrong PINs, which locks the customer for a while after five in a
row, longer each time, so a caller cannot try every PIN over many calls."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.memory import InMemoryCrm
from crm_adapter.pins import FIRST_LOCK, LONGEST_LOCK, lock_after
from crm_adapter.port import CustomerDraft, NotFound, PinCheck
from crm_adapter.sql.store import SqlStore
from crm_adapter.sql.tables import customer_pins, customers


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(engine: AsyncEngine, clock: Clock) -> SqlStore:
    return SqlStore(engine, clock=clock)


async def customer_with_pin(store: SqlStore, pin: str = "4321") -> str:
    customer = await store.create_customer(CustomerDraft(name="Pat", phones=("+15551230001",)))
    await store.set_pin(customer.id, pin)
    return customer.id


async def test_the_right_pin_verifies(store: SqlStore) -> None:
    cid = await customer_with_pin(store)
    assert await store.verify_pin(cid, "4321") is PinCheck.VERIFIED


async def test_a_wrong_pin_is_wrong(store: SqlStore) -> None:
    cid = await customer_with_pin(store)
    assert await store.verify_pin(cid, "1234") is PinCheck.WRONG


async def test_the_pin_is_stored_as_an_argon2id_hash(store: SqlStore, engine: AsyncEngine) -> None:
    await customer_with_pin(store, "864209")
    async with engine.connect() as conn:
        stored = await conn.scalar(select(customer_pins.c.pin_hash))
    assert stored is not None and stored.startswith("$argon2id$")
    assert "864209" not in stored


async def test_a_customer_without_a_pin_has_none_to_check(store: SqlStore) -> None:
    customer = await store.create_customer(CustomerDraft(name="Lee"))
    assert await store.verify_pin(customer.id, "1234") is PinCheck.NO_PIN


async def test_an_unknown_customer_is_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await store.verify_pin("999999", "1234")
    with pytest.raises(NotFound):
        await store.verify_pin("not-an-id", "1234")


async def test_five_wrong_pins_in_a_row_lock_the_customer_even_with_the_right_one(
    store: SqlStore,
) -> None:
    cid = await customer_with_pin(store)
    for _ in range(5):
        assert await store.verify_pin(cid, "0000") is PinCheck.WRONG
    assert await store.verify_pin(cid, "4321") is PinCheck.LOCKED


async def test_the_lock_ends_and_the_right_pin_then_clears_the_count(
    store: SqlStore, clock: Clock
) -> None:
    cid = await customer_with_pin(store)
    for _ in range(5):
        await store.verify_pin(cid, "0000")
    clock.now += FIRST_LOCK
    assert await store.verify_pin(cid, "4321") is PinCheck.VERIFIED
    for _ in range(4):  # a fresh count: four more wrong ones do not lock
        assert await store.verify_pin(cid, "0000") is PinCheck.WRONG
    assert await store.verify_pin(cid, "4321") is PinCheck.VERIFIED


async def test_each_wrong_pin_after_a_lock_locks_again_for_twice_as_long(
    store: SqlStore, clock: Clock
) -> None:
    cid = await customer_with_pin(store)
    for _ in range(5):
        await store.verify_pin(cid, "0000")
    clock.now += FIRST_LOCK
    assert await store.verify_pin(cid, "0000") is PinCheck.WRONG
    clock.now += FIRST_LOCK
    assert await store.verify_pin(cid, "4321") is PinCheck.LOCKED  # 30 minutes this time
    clock.now += FIRST_LOCK
    assert await store.verify_pin(cid, "4321") is PinCheck.VERIFIED


def test_locks_double_up_to_a_day() -> None:
    assert [lock_after(n) for n in (4, 5, 6, 7)] == [
        None,
        FIRST_LOCK,
        2 * FIRST_LOCK,
        4 * FIRST_LOCK,
    ]
    assert lock_after(40) == LONGEST_LOCK == timedelta(hours=24)


async def test_calls_racing_on_one_customer_get_no_more_guesses_than_the_limit(
    store: SqlStore,
) -> None:
    cid = await customer_with_pin(store)
    answers = await asyncio.gather(*(store.verify_pin(cid, f"{n:04d}") for n in range(20)))
    assert answers.count(PinCheck.WRONG) == 5
    assert answers.count(PinCheck.LOCKED) == 15


async def test_a_new_pin_clears_the_lock(store: SqlStore) -> None:
    cid = await customer_with_pin(store)
    for _ in range(5):
        await store.verify_pin(cid, "0000")
    await store.set_pin(cid, "97531")
    assert await store.verify_pin(cid, "97531") is PinCheck.VERIFIED


@pytest.mark.parametrize("pin", ["123", "12a4", "1234567890123", "١٢٣٤"])
async def test_a_pin_that_is_not_4_to_12_digits_is_refused_without_repeating_it(
    store: SqlStore, pin: str
) -> None:
    customer = await store.create_customer(CustomerDraft(name="Kim"))
    with pytest.raises(ValueError) as refused:
        await store.set_pin(customer.id, pin)
    assert pin not in str(refused.value)


async def test_the_in_memory_crm_keeps_the_same_rules() -> None:
    crm = InMemoryCrm()
    cid = crm.add_customer(CustomerDraft(name="Pat")).id
    assert await crm.verify_pin(cid, "1234") is PinCheck.NO_PIN
    crm.set_pin(cid, "4321")
    for _ in range(5):
        assert await crm.verify_pin(cid, "0000") is PinCheck.WRONG
    assert await crm.verify_pin(cid, "4321") is PinCheck.LOCKED


async def test_the_two_fixed_demo_customers_have_the_documented_pins(engine: AsyncEngine) -> None:
    from crm_adapter.demo import DEMO_PINS, seed_demo

    await seed_demo(engine, customers_wanted=3)
    store = SqlStore(engine)
    (vip,) = await store.find_by_phone("+15551234567")
    (standard,) = await store.find_by_phone("+15550104321")
    assert await store.verify_pin(vip.id, DEMO_PINS[1]) is PinCheck.VERIFIED
    assert await store.verify_pin(standard.id, DEMO_PINS[2]) is PinCheck.VERIFIED
    async with engine.connect() as conn:
        third = await conn.scalar(
            select(customers.c.id).where(customers.c.external_id == "demo-0000003")
        )
    assert await store.verify_pin(str(third), "1234") is PinCheck.NO_PIN
