"""A slow CRM in a real Chromium: the IVR gives up on it at its budget, the pop goes out at
once with what is known and fills in when the CRM answers (2 s, a fake REST CRM over a
real socket, behind the production stack of `build_crm`), the breaker still closed.

Screenshots land in tests/artifacts/ (slow-crm-loading-1366, slow-crm-filled-1366).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from crm_adapter.breaker import BreakerState
from crm_adapter.factory import build_crm
from crm_adapter.lookup import lookup_within_budget
from crm_adapter.settings import CrmSettings, PhoneSettings
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from ivr.events import LookupStatus
from ivr.loop_concurrency import LOOP
from tests.crm.crm_fake_server import FakeCrm, contact, hubspot_settings
from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, make_desk

pytestmark = pytest.mark.browser

CALLERS = [f"+1555123{n:04d}" for n in range(5)]
SEARCH = "/crm/v3/objects/contacts/search"


async def test_a_pop_arrives_partial_and_fills_in_when_a_slow_crm_answers(tmp_path: Path) -> None:
    fake = FakeCrm(
        contacts=[contact(f"c{n}", "Rita", f"Slowpoke{n}", p) for n, p in enumerate(CALLERS)],
        delay_s=2.0,
    )
    crm_server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await crm_server.start_server()
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    await upgrade(engine)
    settings = CrmSettings.model_validate(
        {
            "adapter": "rest",
            "lookup_budget_ms": 300,
            "breaker": {"failures": 3},
            "rest": hubspot_settings(str(crm_server.make_url("")).rstrip("/")),
        }
    )
    stack = await build_crm(settings, PhoneSettings(), engine)
    try:
        async for desk in make_desk(tmp_path, crm=stack.crm, engine=engine):
            # the IVR of five callers (more than the breaker's 3 failures) gives up at 300 ms
            for number in CALLERS:
                cut = await lookup_within_budget(stack.crm, "phone", number, 0.3, concurrency=LOOP)
                assert (cut.status, cut.failure) == (LookupStatus.UNAVAILABLE, "timeout")
            assert stack.directory.breaker.state is BreakerState.CLOSED

            async with chromium() as browser:
                context, page = await new_page(browser, "1366")
                await login(page, desk.url, "alice", PASSWORD)
                call = desk.next_call_id()
                await desk.ivr(
                    call,
                    number=CALLERS[0],
                    name="CALLER ZERO",
                    steps=[("main_menu", "menu", "Main menu", ["1"])],
                )
                await desk.ring(call, "alice")
                card = page.locator(f'.pop-card[data-call-id="{call}"]')
                await expect(card).to_have_attribute("data-state", "offered")
                await expect(page.locator(".notice-info")).to_have_text("Loading customer data…")
                await expect(page.locator("#ivr-path")).to_contain_text("Main menu")
                await shot(page, "slow-crm-loading-1366")

                await expect(page.locator("#pop-caller-name")).to_have_text("Rita Slowpoke0")
                await expect(page.locator(".notice-info")).to_have_count(0)
                await expect(page.locator(".notice-warn")).to_have_count(0)
                await shot(page, "slow-crm-filled-1366")
                await context.close()

            # one request per caller: the pop waited for the one the IVR left
            assert [s.raw_path for s in fake.seen].count(SEARCH) == len(CALLERS)
            assert stack.directory.breaker.state is BreakerState.CLOSED
    finally:
        await stack.aclose()
        await engine.dispose()
        await crm_server.close()
