"""Click-to-dial in `callpop demo`, in Chromium, through the virtual PBX: alice types a
customer's number in her panel's Call box; the panel's AMI `Originate` rings her demo
phone first ("outbound call"); she answers and the customer's test phone, open as that
number, rings ("Acme Telecom"); the customer answers and they talk until one hangs up.
Called again, the customer declines: alice's phone shows the number is busy.

Screenshots land in tests/artifacts/ (demo-dial-*).
"""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from callpop.demo.compose import DemoServer
from callpop.demo.context import known_callers
from tests.demo.conftest import SEED
from tests.screenpop.browser import chromium, login, new_page, shot

pytestmark = pytest.mark.browser


async def test_click_to_dial_rings_the_agent_then_the_customer_s_test_phone(
    demo: DemoServer,
) -> None:
    assert demo.urls is not None
    customer = known_callers(SEED, 2)[1]
    async with chromium() as browser:
        _desk_context, desk = await new_page(browser, "1366")
        await login(desk, demo.urls.base, "alice", "alice")
        alice_phone = desk.locator("#demo-phone")
        await expect(alice_phone).to_have_attribute("data-state", "idle")

        _phone_context, phone = await new_page(browser, "1366")
        await phone.goto(demo.urls.phone)
        await expect(phone.locator("#conn-status")).to_have_class("conn conn-up")
        # the test phone is the customer's: it answers as their number
        await phone.click(f'.caller[data-number="{customer.number}"]')
        handset = phone.locator("#handset")
        await expect(handset).to_have_attribute("data-state", "idle")

        async def dial() -> None:
            await desk.fill("#dial-form input[name=number]", customer.number)
            await desk.click("#dial-form button[type=submit]")
            await expect(desk.locator("#dial-status")).to_contain_text("Your phone rings")
            await expect(alice_phone).to_have_attribute("data-state", "ringing")
            await expect(alice_phone).to_contain_text("outbound call")
            await expect(handset).not_to_have_attribute("data-state", "incoming")  # agent first

        await dial()
        await shot(desk, "demo-dial-1-desk-ringing")
        await desk.click("#demo-phone-answer")
        await expect(handset).to_have_attribute("data-state", "incoming")
        # alice hears ringback while the customer's phone rings
        await expect(alice_phone).to_contain_text(f"Ringing: {customer.number}")
        await expect(phone.locator("#screen-who")).to_have_text("Acme Telecom")
        await expect(phone.locator("#screen-line")).to_have_text(
            f"Calling you on {customer.number}"
        )
        await shot(phone, "demo-dial-2-phone-rings")
        await phone.click("#call-btn")
        await expect(handset).to_have_attribute("data-state", "connected")
        await expect(phone.locator("#transcript")).to_contain_text(
            "You are talking to alice of Acme Telecom"
        )
        await expect(alice_phone).to_have_attribute("data-state", "talking")
        await expect(alice_phone).to_contain_text(f"On a call: {customer.number}")
        await expect(alice_phone).to_contain_text("outbound call")
        await shot(desk, "demo-dial-3-desk-talking")
        await desk.click("#demo-phone-hangup")
        await expect(handset).to_have_attribute("data-state", "ended")
        await expect(phone.locator("#screen-line")).to_have_text("alice hung up after talking.")
        await expect(alice_phone).to_have_attribute("data-state", "idle")

        # called again, the customer declines: Dial ends BUSY, alice's phone says so
        await dial()
        await desk.click("#demo-phone-answer")
        await expect(handset).to_have_attribute("data-state", "incoming")
        await phone.click("#hangup-btn")
        await expect(alice_phone).to_have_attribute("data-state", "idle")
        await expect(alice_phone).to_contain_text(f"{customer.number} is busy")
        await shot(desk, "demo-dial-4-desk-busy")
