"""The disposition form in a real Chromium belongs to its call: the outcome chosen on
one call is never pre-selected on the next call's form (issue 14 item 5)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, Desk

pytestmark = pytest.mark.browser


async def test_the_next_calls_form_starts_empty_after_an_outcome_was_saved(desk: Desk) -> None:
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        await login(page, desk.url, "alice", PASSWORD)
        first = desk.next_call_id()
        await desk.ivr(first, number="+15551230100")
        await desk.ring(first, "alice")
        await desk.answer(first, "alice")
        await desk.complete(first, "alice")
        await expect(page.locator(f'.pop-card[data-call-id="{first}"]')).to_have_attribute(
            "data-state", "wrapup"
        )
        await page.select_option("select[name=disposition]", "resolved")
        await page.click("#save-disposition")
        await expect(page.locator("#idle")).to_be_visible()

        second = desk.next_call_id()
        await desk.ivr(second, number="+15551230101")
        await desk.ring(second, "alice")
        await desk.answer(second, "alice")
        await expect(page.locator(f'.pop-card[data-call-id="{second}"]')).to_have_attribute(
            "data-state", "accepted"
        )
        await expect(page.locator("select[name=disposition]")).to_have_value("")
        await context.close()


async def test_a_call_ringing_during_wrap_up_gets_an_empty_form_and_each_call_keeps_its_own(
    desk: Desk,
) -> None:
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        await login(page, desk.url, "alice", PASSWORD)
        first = desk.next_call_id()
        await desk.ivr(first, number="+15551230100")
        await desk.ring(first, "alice")
        await desk.answer(first, "alice")
        await desk.complete(first, "alice")
        await expect(page.locator(f'.pop-card[data-call-id="{first}"]')).to_have_attribute(
            "data-state", "wrapup"
        )
        await page.select_option("select[name=disposition]", "resolved")

        second = desk.next_call_id()
        await desk.ivr(second, number="+15551230101")
        await desk.ring(second, "alice")
        await desk.answer(second, "alice")
        await expect(page.locator(f'.pop-card[data-call-id="{second}"]')).to_have_attribute(
            "data-state", "accepted"
        )
        await expect(page.locator("select[name=disposition]")).to_have_value("")
        await shot(page, "agent-next-call-form-empty-1366")

        await page.click(f'.pop-tab[data-call-id="{first}"]')
        await expect(page.locator("select[name=disposition]")).to_have_value("resolved")
        await context.close()


async def test_keyboard_shortcuts_listed_on_the_page_pick_an_outcome_and_save_it(
    desk: Desk,
) -> None:
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        await login(page, desk.url, "alice", PASSWORD)
        await expect(page.locator("#shortcuts")).to_contain_text("Alt+S save")
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551230100", topic=None)
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        await desk.complete(call, "alice")
        await expect(page.locator(f'.pop-card[data-call-id="{call}"]')).to_have_attribute(
            "data-state", "wrapup"
        )
        select = page.locator("select[name=disposition]")
        await page.keyboard.press("Alt+o")
        await expect(select).to_have_value("resolved")
        await page.keyboard.press("Alt+o")
        await expect(select).to_have_value("payment_taken")
        await page.keyboard.press("Alt+Shift+o")
        await expect(select).to_have_value("resolved")
        await page.keyboard.press("Alt+s")
        await expect(page.locator("#idle")).to_be_visible()
        await context.close()

    await desk.settled()
    stored = await desk.crm.get_interaction(call)
    assert stored.disposition == "resolved"


async def test_todays_calls_shows_a_missed_and_an_abandoned_call_but_not_one_taken_elsewhere(
    desk: Desk,
) -> None:
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        await login(page, desk.url, "alice", PASSWORD)
        missed = desk.next_call_id()
        await desk.ivr(missed, number="+15551230100")
        await desk.ring(missed, "alice")
        alice = desk.accounts["alice"]
        await desk.publish(
            "agent.ring_no_answer",
            missed,
            queue="billing",
            interface=alice.interface,
            member_name=alice.name,
            ring_ms=15000,
        )
        abandoned = desk.next_call_id()
        await desk.ivr(abandoned, number="+15551230101")
        await desk.ring(abandoned, "alice")
        await desk.publish("queue.left", abandoned, queue="billing", reason="abandoned")
        elsewhere = desk.next_call_id()
        await desk.ivr(elsewhere, number="+15551230102")
        await desk.ring(elsewhere, "alice")
        await desk.ring(elsewhere, "bob")
        await desk.answer(elsewhere, "bob")
        await desk.complete(elsewhere, "bob")
        await desk.settled()

        await page.reload()
        await page.wait_for_selector("#conn-status.conn-up")
        today = page.locator("#today-calls")
        await expect(today.locator(f'[data-call-id="{missed}"]')).to_contain_text("Missed")
        await expect(today.locator(f'[data-call-id="{abandoned}"]')).to_contain_text("Abandoned")
        await expect(today.locator(f'[data-call-id="{elsewhere}"]')).to_have_count(0)
        await shot(page, "agent-today-missed-1366")
        await context.close()


RECORD_NOTIFICATIONS = """
window.__notified = [];
const Real = window.Notification;
class Recording extends Real {
  constructor(title, options) { super(title, options); window.__notified.push(title); }
}
window.Notification = Recording;
"""


async def test_desktop_alerts_are_opt_in_and_notify_a_ringing_call(desk: Desk) -> None:
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        await context.grant_permissions(["notifications"], origin=desk.url)
        await context.add_init_script(RECORD_NOTIFICATIONS)
        await login(page, desk.url, "alice", PASSWORD)
        first = desk.next_call_id()
        await desk.ivr(first, number="+15551230100")
        await desk.ring(first, "alice")
        await expect(page.locator(f'.pop-card[data-call-id="{first}"]')).to_be_visible()
        assert await page.evaluate("window.__notified") == []  # not opted in

        await page.check("#notify-toggle")
        second = desk.next_call_id()
        await desk.ivr(second, number="+15551230101")
        await desk.ring(second, "alice")
        await expect(page.locator(f'.pop-tab[data-call-id="{second}"]')).to_be_visible()
        await page.wait_for_function("window.__notified.length === 1")
        assert await page.evaluate("window.__notified") == ["Call: +15551230101"]
        await context.close()
