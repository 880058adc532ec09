"""`callpop crm pin CUSTOMER_ID`: a customer's PIN set from the command line, stored
hashed; errors are one line that never repeats the PIN."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from callpop.cli import cli
from crm_adapter.port import CustomerDraft, PinCheck
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.store import SqlStore
from crm_adapter.sql.tables import customer_pins


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "callpop.yaml"
    path.write_text(
        f"database: sqlite:///{tmp_path / 'callpop.db'}\nphone: {{default_region: US}}\n"
    )
    return path


def run(config: Path, *args: str, stdin: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "crm", "pin", *args], input=stdin)


async def _customer(url: str) -> str:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        store = SqlStore(engine)
        customer = await store.create_customer(CustomerDraft(name="Pat"))
        await store.aclose()
        return customer.id
    finally:
        await engine.dispose()


async def _check(url: str, customer_id: str, pin: str) -> tuple[PinCheck, str]:
    engine = create_engine(url)
    try:
        store = SqlStore(engine)
        check = await store.verify_pin(customer_id, pin)
        async with engine.connect() as conn:
            stored = await conn.scalar(select(customer_pins.c.pin_hash))
        await store.aclose()
        return check, str(stored)
    finally:
        await engine.dispose()


def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'callpop.db'}"


def test_a_pin_set_from_stdin_verifies_and_is_stored_hashed(config: Path, tmp_path: Path) -> None:
    cid = asyncio.run(_customer(url(tmp_path)))
    result = run(config, cid, stdin="735194\n")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"customer {cid}: PIN set\n"
    check, stored = asyncio.run(_check(url(tmp_path), cid, "735194"))
    assert check is PinCheck.VERIFIED
    assert stored.startswith("$argon2id$") and "735194" not in stored


def test_a_pin_that_is_not_digits_is_one_line_without_the_pin(config: Path, tmp_path: Path) -> None:
    cid = asyncio.run(_customer(url(tmp_path)))
    result = run(config, cid, stdin="12ab\n")
    assert result.exit_code == 1
    assert result.stderr == "callpop crm pin: a PIN is digits only\n"


def test_an_unknown_customer_is_one_line(config: Path, tmp_path: Path) -> None:
    asyncio.run(_customer(url(tmp_path)))
    result = run(config, "4242", stdin="735194\n")
    assert result.exit_code == 1
    assert result.stderr == "callpop crm pin: no customer '4242'\n"
