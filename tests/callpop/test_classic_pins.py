"""The classic AGI script checks PINs on sqlite3 alone as the built-in store does: the
same rows, the same answers, the same lock, whichever of the two counted the attempts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from callpop.classic_services import ClassicServices, site_of
from callpop.config import load_config
from crm_adapter.pins import FIRST_LOCK
from crm_adapter.port import CustomerDraft, PinCheck
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.sqlite_file import SqliteReader
from crm_adapter.sql.store import SqlStore
from ivr.events import PinStatus

PIN = "9157"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_the_script_and_the_store_share_one_pin_and_one_lock(tmp_path: Path) -> None:
    database = tmp_path / "callpop.db"
    engine = create_engine(f"sqlite:///{database}")
    clock = Clock()
    try:
        await upgrade(engine)
        store = SqlStore(engine, clock=clock)
        pat = await store.create_customer(CustomerDraft("Pat", phones=("5551234567",)))
        lee = await store.create_customer(CustomerDraft("Lee"))
        await store.set_pin(pat.id, PIN)
        config = tmp_path / "callpop.yaml"
        config.write_text(f"database: sqlite:///{database}\n")
        site = site_of(load_config(config, {}))
        assert site is not None
        reader = SqliteReader.open(site.database)
        assert reader is not None
        try:
            script = ClassicServices(site, reader, clock=clock)

            async def check(customer_id: str, pin: str) -> PinStatus:
                return (await script.verify_pin(customer_id, pin, at_ms=5)).status

            assert await check(pat.id, PIN) is PinStatus.VERIFIED
            assert await check(lee.id, PIN) is PinStatus.NO_PIN
            assert await check("424242", PIN) is PinStatus.NO_PIN  # no such customer
            for _ in range(3):
                assert await check(pat.id, "0000") is PinStatus.WRONG
            for _ in range(2):  # the store counts on from the script's three
                assert await store.verify_pin(pat.id, "0000") is PinCheck.WRONG
            assert await check(pat.id, PIN) is PinStatus.LOCKED
            clock.now += FIRST_LOCK
            assert await check(pat.id, PIN) is PinStatus.VERIFIED
            assert await store.verify_pin(pat.id, PIN) is PinCheck.VERIFIED
        finally:
            reader.close()
    finally:
        await engine.dispose()
