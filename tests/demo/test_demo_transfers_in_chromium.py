"""Transfers and pauses in `callpop demo`, in Chromium, through the virtual PBX: the
caller walks the IVR on the test phone into the billing queue; bob is on a break, so
the queue rings alice only; alice answers on her demo phone, writes notes and transfers
the call to bob from her panel; bob's phone rings and his panel pops with the IVR path
and alice's notes. The panel's requests reach the virtual PBX as AMI actions
(`BlindTransfer`, `Atxfer`, `QueuePause`) over the demo's AMI connection."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from callpop.demo.compose import DemoServer
from callpop.demo.context import known_callers
from tests.demo.conftest import SEED
from tests.screenpop.browser import chromium, login, new_page, shot

pytestmark = pytest.mark.browser

NOTES = "Wants the late fee on the March bill explained; account checked."


async def desk_of(browser: Browser, base: str, name: str) -> Page:
    _context, page = await new_page(browser, "1366")
    await login(page, base, name, name)  # demo agents' passwords are their names
    await expect(page.locator("#demo-phone")).to_have_attribute("data-state", "idle")
    return page


async def set_status(desk: Page, value: str, said: str) -> None:
    await desk.select_option("#agent-status-select", value)
    await expect(desk.locator("#agent-status-message")).to_have_text(said)


async def call_into_billing(browser: Browser, demo: DemoServer) -> Page:
    """A known customer dials in on the test phone and presses 1 then 2: billing."""
    assert demo.urls is not None
    caller = known_callers(SEED, 2)[1]
    _context, phone = await new_page(browser, "1366")
    await phone.goto(demo.urls.phone)
    await expect(phone.locator("#conn-status")).to_have_class("conn conn-up")
    await phone.click(f'.caller[data-number="{caller.number}"]')
    await phone.click("#call-btn")
    now_playing = phone.locator("#np-text")
    await expect(now_playing).to_contain_text("For billing and payments, press 1")
    await phone.click('.key[data-key="1"]')
    await expect(now_playing).to_contain_text("For a question about a charge on your bill")
    await phone.click('.key[data-key="2"]')
    return phone


async def alice_answers_with_notes(alice: Page, bob: Page) -> None:
    """The queue rings alice, not bob (on a break); she answers and writes her notes."""
    await expect(alice.locator("#demo-phone")).to_have_attribute("data-state", "ringing")
    await expect(bob.locator("#demo-phone")).to_have_attribute("data-state", "idle")
    await expect(bob.locator(".pop-card")).to_have_count(0)
    await alice.click("#demo-phone-answer")
    await expect(alice.locator(".pop-card")).to_have_attribute("data-state", "accepted")
    await alice.fill("textarea[name=notes]", NOTES)
    await expect(alice.locator("#notes-hint")).to_have_text("saved")


async def alice_talks_while_bob_is_on_break(
    browser: Browser, demo: DemoServer
) -> tuple[Page, Page, Page]:
    """Bob takes a break; a caller reaches billing, the queue rings alice only; she
    answers and writes notes; bob is back (Ready). Alice's, bob's and the phone's pages."""
    assert demo.urls is not None
    alice = await desk_of(browser, demo.urls.base, "alice")
    bob = await desk_of(browser, demo.urls.base, "bob")
    await set_status(bob, "break:Lunch", "Paused in your queues")
    phone = await call_into_billing(browser, demo)
    await alice_answers_with_notes(alice, bob)
    await set_status(bob, "ready", "Ready for calls")
    return alice, bob, phone


async def transfer(alice: Page, mode: str, said: str) -> None:
    await alice.select_option("#transfer-form select[name=mode]", mode)
    await alice.select_option("#transfer-form select[name=kind]", "agent")
    await alice.fill("#transfer-form input[name=target]", "bob")
    await alice.click("#transfer-button")
    await expect(alice.locator("#transfer-status")).to_have_text(said)


async def test_alice_transfers_a_call_to_bob_and_his_panel_pops_with_her_notes(
    demo: DemoServer,
) -> None:
    async with chromium() as browser:
        alice, bob, phone = await alice_talks_while_bob_is_on_break(browser, demo)

        await transfer(alice, "blind", "Transferred to bob.")
        await expect(alice.locator(".pop-card")).to_have_attribute("data-state", "wrapup")
        await expect(alice.locator("#demo-phone")).to_have_attribute("data-state", "idle")
        await expect(bob.locator("#demo-phone")).to_have_attribute("data-state", "ringing")
        card = bob.locator(".pop-card")
        await expect(card).to_have_attribute("data-state", "offered")
        await expect(card).to_contain_text(NOTES)
        await expect(bob.locator("#handoff")).to_contain_text("Notes from alice")
        await expect(bob.locator("#ivr-path")).to_contain_text("Billing and payments")
        await bob.click("#demo-phone-answer")
        await expect(card).to_have_attribute("data-state", "accepted")
        await expect(phone.locator("#transcript")).to_contain_text(
            "alice transferred you to bob (102)"
        )
        await shot(bob, "demo-transfer-blind-bob-1366")
        await shot(phone, "demo-transfer-blind-phone-1366")
        await phone.click("#hangup-btn")
        await expect(card).to_have_attribute("data-state", "wrapup")


async def test_an_attended_transfer_rings_bob_to_consult_then_hands_him_the_caller(
    demo: DemoServer,
) -> None:
    async with chromium() as browser:
        alice, bob, phone = await alice_talks_while_bob_is_on_break(browser, demo)

        await transfer(alice, "attended", "Talk to bob, then hang up to hand the caller over.")
        # bob's phone rings for alice's consultation: no pop, the caller is not his yet
        await expect(bob.locator("#demo-phone")).to_have_attribute("data-state", "ringing")
        await expect(bob.locator("#demo-phone")).to_contain_text("alice (consultation)")
        await bob.click("#demo-phone-answer")
        await expect(bob.locator("#demo-phone")).to_have_attribute("data-state", "talking")
        await expect(bob.locator(".pop-card")).to_have_count(0)
        await alice.click("#demo-phone-hangup")  # completes the transfer

        card = bob.locator(".pop-card")
        await expect(card).to_have_attribute("data-state", "accepted")
        await expect(card).to_contain_text(NOTES)
        await expect(bob.locator("#ivr-path")).to_contain_text("Billing and payments")
        await expect(alice.locator(".pop-card")).to_have_attribute("data-state", "wrapup")
        await expect(bob.locator("#demo-phone")).to_have_attribute("data-state", "talking")
        await expect(phone.locator("#handset")).to_have_attribute("data-state", "connected")
        await shot(bob, "demo-transfer-attended-bob-1366")
        await bob.click("#demo-phone-hangup")
        await expect(card).to_have_attribute("data-state", "wrapup")
        await expect(phone.locator("#handset")).to_have_attribute("data-state", "ended")
