"""Call controls in the agent's panel, in Chromium, against the AMI simulator: the status
menu sends `QueuePause` with the break's reason; a refused control is shown in words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from callpop.ami.client import AMIClient
from callpop.ami.codec import Message
from callpop.ami.controls import AmiControls, panel_controls
from callpop.pbx_sim.ami import AMIServer
from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, Desk, make_desk


async def _ignore(msg: Message) -> None:
    return None


def _paused(action: Message) -> list[list[tuple[str, str]]]:
    return [[("Response", "Success"), ("Message", "Interface paused successfully")]]


def _denied(action: Message) -> list[list[tuple[str, str]]]:
    return [[("Response", "Error"), ("Message", "Permission denied")]]


@pytest.fixture
async def pbx() -> AsyncIterator[AMIServer]:
    async with AMIServer(responders={"QueuePause": _paused}) as server:
        yield server


@pytest.fixture
async def desk(tmp_path: Path, pbx: AMIServer) -> AsyncIterator[Desk]:
    client = AMIClient(pbx.host, pbx.port, "callpop", "callpop", on_event=_ignore)
    task = asyncio.create_task(client.run())
    async with asyncio.timeout(5):
        await client.wait_connected()
    originate, agent_status, _ = panel_controls(AmiControls(lambda: client))
    try:
        async for item in make_desk(tmp_path, originate=originate, agent_status=agent_status):
            yield item
    finally:
        await client.close()
        async with asyncio.timeout(5):
            await task


async def test_a_break_is_a_queue_pause_with_its_reason_at_the_pbx(
    desk: Desk, pbx: AMIServer
) -> None:
    async with chromium() as browser:
        context, page = await new_page(browser)
        await login(page, desk.url, "alice", PASSWORD)
        await page.select_option("#agent-status-select", "break:Lunch")
        await expect(page.locator("#agent-status-message")).to_have_text("Paused in your queues")
        (sent,) = await pbx.wait_action("QueuePause")
        assert (sent.get("Interface"), sent.get("Paused"), sent.get("Reason")) == (
            "PJSIP/101",
            "true",
            "Lunch",
        )
        assert sent.action_id is not None
        await shot(page, "controls-status-break-1366")
        await page.select_option("#agent-status-select", "ready")
        await expect(page.locator("#agent-status-message")).to_have_text("Ready for calls")
        ready = (await pbx.wait_action("QueuePause", 2))[1]
        assert (ready.get("Paused"), ready.get("Reason")) == ("false", None)
        await context.close()


async def test_a_refused_pause_is_shown_to_the_agent_and_the_menu_stays(
    desk: Desk, pbx: AMIServer
) -> None:
    pbx.responders["QueuePause"] = _denied
    async with chromium() as browser:
        context, page = await new_page(browser)
        await login(page, desk.url, "alice", PASSWORD)
        await page.select_option("#agent-status-select", "acw")
        message = page.locator("#agent-status-message")
        await expect(message).to_have_text(
            "changing your status was refused by Asterisk: Permission denied"
        )
        await expect(message).to_have_class("form-status small error")
        await expect(page.locator("#agent-status-select")).to_have_value("ready")
        (sent,) = await pbx.wait_action("QueuePause")
        assert sent.get("Reason") == "After-call work"
        await shot(page, "controls-status-refused-1366")
        await context.close()


async def test_a_refused_click_to_dial_is_shown_to_the_agent(desk: Desk, pbx: AMIServer) -> None:
    pbx.responders["Originate"] = _denied
    async with chromium() as browser:
        context, page = await new_page(browser)
        await login(page, desk.url, "alice", PASSWORD)
        await page.fill("#dial-form input[name=number]", "(555) 123-4567")
        await page.locator("#dial-form").evaluate("f => f.requestSubmit()")
        await expect(page.locator("#dial-status")).to_have_text(
            "calling +15551234567 was refused by Asterisk: Permission denied"
        )
        await pbx.wait_action("Originate")
        await shot(page, "controls-dial-refused-1366")
        await context.close()


async def test_a_break_reason_not_in_the_dialplan_is_refused_before_the_pbx(
    desk: Desk, pbx: AMIServer
) -> None:
    async with await desk.logged_in("alice") as alice:
        async with alice.post(
            f"{desk.url}/api/v1/status",
            json={"status": "break", "reason": "Nap"},
            headers={"X-CSRF-Token": await desk.csrf(alice)},
        ) as response:
            assert response.status == 400
            assert (await response.json())["field"] == "reason"
    assert [a for a in pbx.actions if a.action == "QueuePause"] == []
