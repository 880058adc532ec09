"""`callpop init --demo`: deterministic demo data of any size, on SQLite and PostgreSQL."""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.demo import DEMO_AGENTS, DemoData, luhn_digit, seed_demo
from crm_adapter.sql.store import SqlStore
from crm_adapter.sql.tables import agents, cases, customers


def test_row_numbers_give_the_same_customer_every_time() -> None:
    assert DemoData(7).customer(42) == DemoData(7).customer(42)


def test_another_seed_is_another_world() -> None:
    seven, eight = DemoData(7), DemoData(8)
    assert [seven.customer(i)["name"] for i in range(1, 20)] != [
        eight.customer(i)["name"] for i in range(1, 20)
    ]


def test_demo_phone_numbers_never_repeat() -> None:
    world = DemoData(1)
    phones = [p for i in range(1, 20_001) for p in world.customer(i)["phones"]]
    assert len(phones) == len(set(phones))
    assert all(p.startswith("+1555") and len(p) == 12 for p in phones)


def test_demo_accounts_carry_a_luhn_check_digit() -> None:
    world = DemoData(1)
    for i in (1, 2, 999, 123_456):
        account = world.customer(i)["account"]
        assert len(account) == 10 and luhn_digit(account[:-1]) == account[-1]
    assert luhn_digit("7992739871") == "3"  # the textbook example


async def test_the_demo_database_holds_exactly_the_generated_rows(engine: AsyncEngine) -> None:
    report = await seed_demo(engine, customers_wanted=60, seed=5, batch=25)
    world = DemoData(5)

    store = SqlStore(engine)
    for index in (1, 2, 17, 60):
        expected = world.customer(index)
        (found,) = [
            c
            for c in await store.find_by_phone(expected["phones"][0])
            if c.external_id == expected["external_id"]
        ]
        assert (found.name, list(found.phones), found.account, found.tier) == (
            expected["name"],
            expected["phones"],
            expected["account"],
            expected["tier"],
        )
        open_cases = [c for c in expected["cases"] if c["status"] != "closed"]
        assert len(await store.open_cases(found.id)) == len(open_cases)
    assert report.customers == 60
    assert report.cases == sum(len(world.customer(i)["cases"]) for i in range(1, 61))


async def test_the_documented_demo_callers_are_there(engine: AsyncEngine) -> None:
    await seed_demo(engine, customers_wanted=5, seed=1)
    store = SqlStore(engine)
    (vip,) = await store.find_by_phone("(555) 123-4567")
    (standard,) = await store.find_by_phone("555 010 4321")
    assert (vip.tier, standard.tier) == ("vip", "standard")
    assert len(await store.open_cases(standard.id)) == 2


async def test_seeding_again_adds_only_what_is_missing(engine: AsyncEngine) -> None:
    await seed_demo(engine, customers_wanted=10, seed=1)
    again = await seed_demo(engine, customers_wanted=10, seed=1)
    more = await seed_demo(engine, customers_wanted=25, seed=1)

    async with engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(customers))
        case_count = await conn.scalar(select(func.count()).select_from(cases))
    assert (again.customers, again.agents, again.already) == (0, 0, 10)
    assert (more.customers, more.already) == (15, 10)
    assert count == 25
    world = DemoData(1)
    assert case_count == sum(len(world.customer(i)["cases"]) for i in range(1, 26))


async def test_the_demo_agents_can_log_in(engine: AsyncEngine) -> None:
    await seed_demo(engine, customers_wanted=0)
    async with engine.connect() as conn:
        rows = {r.name: r for r in await conn.execute(select(agents))}
    assert {(a.name, a.interface, a.role) for a in DEMO_AGENTS} == {
        (r.name, r.interface, r.role) for r in rows.values()
    }
    alice = next(a for a in DEMO_AGENTS if a.name == "alice")
    assert PasswordHasher().verify(rows["alice"].password_hash, alice.password)
