"""End to end in a real Chromium: a caller keys their PIN at a pin node served over
FastAGI (the simulated Asterisk on a real socket), the built-in CRM checks it against
its hash, and the agent's card says "Verified by PIN"; the PIN is nowhere on the page.

Screenshot in tests/artifacts/ at 1366x768.
"""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from callpop.metrics import Metrics
from callpop.pbx_sim.fastagi import call_fastagi
from callpop.pbx_sim.script import CallerId, CallerScript
from callpop.services import IvrServices
from crm_adapter.port import CustomerDraft
from ivr import variables as v
from ivr.compile_flow import compile_flows
from ivr.flow import Flow
from tests.agi.harness import fastagi
from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, Desk

pytestmark = pytest.mark.browser

PIN = "2468"
NUMBER = "+15551231100"
CALL_ID = "1795389950.1"
FLOW = Flow.model_validate(
    {
        "entry": "identify",
        "nodes": {
            "identify": {
                "type": "lookup",
                "by": "caller",
                "found": "check_pin",
                "not_found": "billing",
            },
            "check_pin": {
                "type": "pin",
                "label": "PIN",
                "prompts": ["enter-pin"],
                "verified": "billing",
                "failed": "billing",
            },
            "billing": {"type": "transfer", "queue": "billing", "topic": "billing"},
        },
    }
)


async def test_a_pin_checked_in_the_ivr_shows_verified_by_pin_on_the_card(desk: Desk) -> None:
    pat = await desk.crm.create_customer(
        CustomerDraft(name="Pat Payer", phones=(NUMBER,), account="4539578767")
    )
    await desk.crm.set_pin(pat.id, PIN)
    services = IvrServices(
        crm=desk.crm,
        bus=desk.bus,
        journeys=desk.journeys,
        metrics=Metrics(),
        lookup_budget_ms=300,
        pin_budget_ms=5000,
    )
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        await login(page, desk.url, "alice", PASSWORD)
        async with fastagi(compile_flows({"main": FLOW}), services) as server:
            script = CallerScript.parse(
                f"{PIN}#",
                caller=CallerId(NUMBER, "PAT PAYER"),
                uniqueid="1795389950.2",
                linkedid=CALL_ID,
            )
            record = await asyncio.wait_for(
                call_fastagi("127.0.0.1", server.port, script, path="ivr?flow=main"), 60
            )
        assert record.read(v.VERIFIED) == "1"
        await desk.publish("queue.joined", CALL_ID, queue="billing", position=1, priority=0)
        await desk.ring(CALL_ID, "alice")
        await desk.answer(CALL_ID, "alice")
        badge = page.locator("#pop-identity")
        await expect(badge).to_have_text("✓ Verified by PIN")
        await expect(badge).to_have_attribute("title", "Identified in the IVR by: pin")
        await expect(page.locator("#pop-caller-name")).to_have_text("Pat Payer")
        await expect(page.locator(".pop-card")).to_contain_text("****")
        assert PIN not in await page.content()
        await shot(page, "agent-pin-end-to-end-1366")
        await context.close()
    stored = await desk.store.journey(CALL_ID)
    assert stored is not None and stored["identity"] == "pin"
