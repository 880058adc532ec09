"""The queue's wrap-up in the panel, in Chromium: after a call the agent's queues do not
ring them for the queue's `wrapup` (queues.conf wrapuptime), counted from the hang-up;
the panel shows that after-call work running down, then Ready again by itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, Desk, make_desk, write_dialplan

pytestmark = pytest.mark.browser

QUEUES = """\
operator: operator
queues:
  operator: {strategy: ringall}
  billing: {strategy: ringall, wrapup: 3s}
"""


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    dialplan = write_dialplan(tmp_path / "dialplan")
    (dialplan / "queues.yaml").write_text(QUEUES)
    async for item in make_desk(tmp_path):
        yield item


async def test_after_a_call_the_panel_shows_the_queues_wrapup_then_ready(desk: Desk) -> None:
    async with chromium() as browser:
        context, alice = await new_page(browser)
        await login(alice, desk.url, "alice", PASSWORD)
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551234567", steps=[("menu", "menu", "Billing", ["1"])])
        await desk.answer(call, "alice")
        await expect(alice.locator(".pop-card")).to_have_attribute("data-state", "accepted")
        await desk.complete(call, "alice")
        status = alice.locator("#agent-status")
        await expect(status).to_have_attribute("data-status", "wrapup")
        await expect(alice.locator("#agent-status-message")).to_contain_text("Wrap-up: ")
        await expect(alice.locator("#agent-status-select")).to_have_value("ready")  # no pause
        await shot(alice, "wrapup-running-1366")
        # the queue's 3 s pass: Ready again without the agent doing anything
        await expect(status).to_have_attribute("data-status", "ready")
        await expect(alice.locator("#agent-status-message")).to_have_text("Ready for calls")
        await context.close()


async def test_a_queue_without_wrapup_leaves_the_agent_ready(desk: Desk) -> None:
    async with chromium() as browser:
        context, alice = await new_page(browser)
        await login(alice, desk.url, "alice", PASSWORD)
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551234567", steps=[("menu", "menu", "Operator", ["0"])])
        await desk.answer(call, "alice", queue="operator")
        await desk.complete(call, "alice", queue="operator")
        await expect(alice.locator(".pop-card")).to_have_attribute("data-state", "wrapup")
        await expect(alice.locator("#agent-status")).to_have_attribute("data-status", "ready")
        await context.close()
