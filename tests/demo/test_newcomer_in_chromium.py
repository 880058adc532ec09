"""THE end-to-end test: what a newcomer does after `make demo`, in a real Chromium.

An agent logs in; a caller dials a known customer's number on the test phone, walks
the IVR with the dial pad (the call goes through callpop's real FastAGI port), lands in
the billing queue; the queue's AMI events reach callpop's AMI listener over a socket
and the agent's desk pops with the customer and the IVR path; the agent answers on the
demo phone, talks, the caller hangs up, the agent saves a disposition with notes, and
the disposition is in the CRM store.

Screenshots land in tests/artifacts/ at 1366x768 and 1920x1080.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from callpop.demo.compose import DemoServer
from callpop.demo.context import known_callers
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.store import SqlStore
from tests.demo.conftest import SEED
from tests.screenpop.browser import SIZES, chromium, login, new_page, shot

pytestmark = pytest.mark.browser

NOTES = "Explained the late payment fee; waived it as a one-off."


async def both_sizes(page: Page, name: str) -> None:
    await shot(page, f"{name}-1366")
    await page.set_viewport_size(SIZES["1920"])  # type: ignore[arg-type]
    await shot(page, f"{name}-1920")
    await page.set_viewport_size(SIZES["1366"])  # type: ignore[arg-type]


async def test_a_newcomer_calls_the_ivr_and_the_agent_pops_answers_and_files_the_call(
    demo: DemoServer,
) -> None:
    assert demo.urls is not None and demo.runtime is not None
    urls = demo.urls
    caller = known_callers(SEED, 2)[1]  # a standard customer with open cases
    async with chromium() as browser:
        desk_context, desk = await new_page(browser, "1366")
        await login(desk, urls.base, "alice", "alice")
        await expect(desk.locator("#demo-phone")).to_have_attribute("data-state", "idle")

        phone_context, phone = await new_page(browser, "1366")
        await phone.goto(urls.phone)
        await expect(phone.locator("#conn-status")).to_have_class("conn conn-up")
        await phone.click(f'.caller[data-number="{caller.number}"]')
        await expect(phone.locator("#screen-who")).to_have_text(caller.name)
        await both_sizes(phone, "demo-phone-idle")

        await phone.click("#call-btn")
        now_playing = phone.locator("#np-text")
        await expect(now_playing).to_contain_text("For billing and payments, press 1")
        await phone.click('.key[data-key="1"]')
        await expect(now_playing).to_contain_text(
            "For a question about a charge on your bill, press 2"
        )
        await phone.click('.key[data-key="2"]')

        card = desk.locator(".pop-card")
        await expect(desk.locator("#demo-phone")).to_have_attribute("data-state", "ringing")
        await expect(card).to_have_attribute("data-state", "offered")
        await expect(desk.locator("#pop-caller-name")).to_have_text(caller.name)
        await expect(desk.locator("#customer-card")).to_contain_text(caller.account)
        # each menu the caller went through; by label once the journey is read, by node
        # id from the ivr.node events until then (the runner saves the journey after
        # publishing ivr.ended, so the first payload may not have it yet)
        path = desk.locator("#ivr-path")
        # The journey's labels and keys, not bare node ids: it is saved before ivr.ended.
        await expect(path).to_contain_text("Main menu")
        await expect(path).to_contain_text("Billing and payments")
        await expect(path).not_to_contain_text("billing_menu")
        await expect(phone.locator("#transcript")).to_contain_text("ringing alice")
        await both_sizes(phone, "demo-phone-queue")
        await both_sizes(desk, "demo-desk-ringing")

        await desk.click("#demo-phone-answer")
        await expect(card).to_have_attribute("data-state", "accepted")
        await expect(phone.locator("#handset")).to_have_attribute("data-state", "connected")
        await desk.fill("textarea[name=notes]", NOTES)
        await expect(desk.locator("#notes-hint")).to_have_text("saved")
        await both_sizes(desk, "demo-desk-live")
        await both_sizes(phone, "demo-phone-connected")

        await phone.click("#hangup-btn")
        await expect(phone.locator("#handset")).to_have_attribute("data-state", "ended")
        await expect(card).to_have_attribute("data-state", "wrapup")
        await expect(desk.locator("#demo-phone")).to_have_attribute("data-state", "idle")
        call_id = await card.get_attribute("data-call-id")
        await desk.select_option("select[name=disposition]", "resolved")
        await desk.click("#save-disposition")
        await expect(desk.locator("#idle")).to_be_visible()
        await expect(desk.locator("#today-calls")).to_contain_text("Resolved")
        await both_sizes(desk, "demo-desk-after-call")
        await both_sizes(phone, "demo-phone-ended")
        await phone_context.close()
        await desk_context.close()

    assert call_id
    engine = create_engine(f"sqlite:///{demo.options.database}")
    try:
        stored = await SqlStore(engine).get_interaction(call_id)
    finally:
        await engine.dispose()
    customer = await demo.runtime.crm.crm.find_by_phone(caller.number)
    assert (stored.disposition, stored.notes, stored.agent) == ("resolved", NOTES, "alice")
    assert stored.customer_id == customer[0].id
