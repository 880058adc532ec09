"""`build_crm`: the stack the composition root gets, for each adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.factory import build_crm
from crm_adapter.lookup import lookup_within_budget
from crm_adapter.port import CustomerDraft, Interaction
from crm_adapter.settings import CrmSettings, PhoneSettings
from ivr.events import LookupStatus
from ivr.loop_concurrency import LOOP

from .crm_fake_server import FakeCrm, contact, hubspot_settings

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeCrm, str]]:
    crm = FakeCrm(contacts=[contact("101", "Ada", "Lovelace", "+15551234567")])
    server = TestServer(crm.app(), host="127.0.0.1", port=0)
    await server.start_server()
    yield crm, str(server.make_url("")).rstrip("/")
    await server.close()


async def test_the_sql_adapter_looks_up_and_logs_locally(engine: AsyncEngine) -> None:
    stack = await build_crm(CrmSettings(), PhoneSettings(), engine)
    try:
        await stack.crm.create_customer(CustomerDraft("Ada", phones=("5551234567",)))
        outcome = await lookup_within_budget(
            stack.crm, "phone", "(555) 123-4567", 0.3, concurrency=LOOP
        )
        await stack.crm.log_interaction(Interaction("c1", started=T0))
        assert outcome.status is LookupStatus.FOUND
        assert stack.relay is None
        assert (await stack.outbox.backlog()).pending == 0
    finally:
        await stack.aclose()


async def test_the_rest_adapter_reads_the_crm_and_delivers_through_the_outbox(
    engine: AsyncEngine, fake: tuple[FakeCrm, str]
) -> None:
    crm, url = fake
    settings = CrmSettings.model_validate({"adapter": "rest", "rest": hubspot_settings(url)})
    stack = await build_crm(settings, PhoneSettings(), engine)
    try:
        outcome = await lookup_within_budget(
            stack.crm, "phone", "5551234567", 0.3, concurrency=LOOP
        )
        await stack.crm.log_interaction(Interaction("c1", started=T0, customer_id="101"))
        assert stack.relay is not None
        assert (await stack.outbox.backlog()).pending == 1
        await stack.relay.run_once()
        assert outcome.status is LookupStatus.FOUND
        assert set(crm.applied) == {"c1:1"}
        assert (await stack.crm.get_interaction("c1")).customer_id == "101"
    finally:
        await stack.aclose()
