"""A callback request the database takes longer than the lookup budget to store (found by
the flood benchmark: under load, PostgreSQL commits landed after the caller had been told
"no"). The caller is told it was not stored and keeps their line (the flow's `declined`
branch: the queue); a request that lands after all is withdrawn, so nobody who stayed in
the queue is called back as well."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from callpop.callbacks.store import CallbackStore
from callpop.metrics import Metrics
from callpop.services import IvrServices
from crm_adapter.memory import InMemoryCrm
from crm_adapter.phone import PhoneNormaliser
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from ivr.actions import CallbackRequest
from ivr.events import CallbackStatus
from screenpop.bus import InProcessBus

ASKED = CallbackRequest("billing", "+15551234567", True, "Carol", 60.0)


def storing_in(store: CallbackStore, *, budget_ms: int) -> IvrServices:
    return IvrServices(
        crm=InMemoryCrm(),
        bus=InProcessBus(),
        journeys=None,
        metrics=Metrics(),
        lookup_budget_ms=budget_ms,
        callbacks=store,
        phone=PhoneNormaliser("US"),
    )


async def test_a_request_stored_after_the_budget_is_withdrawn(tmp_path: Path) -> None:
    database = tmp_path / "callpop.db"
    engine = create_engine(f"sqlite:///{database}")
    await upgrade(engine)
    store = CallbackStore(engine)
    services = storing_in(store, budget_ms=100)
    other = sqlite3.connect(database)  # another writer holds the lock: the insert waits
    try:
        other.execute("BEGIN IMMEDIATE")
        asked = await services.request_callback(ASKED, call_id="c1", at_ms=0)
        assert asked.status is CallbackStatus.UNAVAILABLE
        await asyncio.sleep(0.3)  # the request still waits for the lock
    finally:
        other.rollback()
        other.close()
    try:
        async with asyncio.timeout(10):
            await services.settled()
        rows = await store.listing()
        assert [(r.call_id, r.state, r.result) for r in rows] == [
            ("c1", "cancelled", "caller-not-told")
        ]
        assert await store.waiting_counts() == {}
    finally:
        await engine.dispose()


async def test_a_request_stored_within_the_budget_stays(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    await upgrade(engine)
    store = CallbackStore(engine)
    services = storing_in(store, budget_ms=2000)
    try:
        asked = await services.request_callback(ASKED, call_id="c1", at_ms=0)
        await services.settled()
        assert (asked.status, asked.position) == (CallbackStatus.STORED, 1)
        assert await store.waiting_counts() == {"billing": 1}
    finally:
        await engine.dispose()
