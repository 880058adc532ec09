"""What became of a click-to-dial, in the agent's panel in Chromium, against the AMI
simulator: the `Originate` is only queued, and the `OriginateResponse` that follows says
the agent's phone is offline; the Click-to-dial box says so instead of "your phone rings"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from playwright.async_api import expect

from callpop.ami.client import AMIClient
from callpop.ami.codec import Message
from callpop.ami.controls import DIAL_CONTEXT, DIAL_OUTCOME_WAIT_S, AmiControls, panel_controls
from callpop.ami.dials import DialOutcomes
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_originate import Originations
from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, Desk, make_desk


@pytest.fixture
def calls() -> Originations:
    return Originations()


@pytest.fixture
async def pbx(calls: Originations) -> AsyncIterator[AMIServer]:
    async with AMIServer(answers=[calls]) as server:
        yield server


@pytest.fixture
async def desk(tmp_path: Path, pbx: AMIServer) -> AsyncIterator[Desk]:
    # the AMI events go through DialOutcomes onto the desk's bus, as on the lease holder
    observers: list[Callable[[Message], None]] = []

    async def on_event(message: Message) -> None:
        for observe in observers:
            observe(message)

    client = AMIClient(pbx.host, pbx.port, "callpop", "callpop", on_event=on_event)
    task = asyncio.create_task(client.run())
    async with asyncio.timeout(5):
        await client.wait_connected()
    originate, agent_status, _ = panel_controls(AmiControls(lambda: client))
    try:
        async for item in make_desk(
            tmp_path,
            originate=originate,
            agent_status=agent_status,
            dial_outcome_s=DIAL_OUTCOME_WAIT_S,
        ):
            observers.append(DialOutcomes(item.bus.publish, context=DIAL_CONTEXT).feed)
            yield item
    finally:
        await client.close()
        async with asyncio.timeout(5):
            await task


async def test_an_offline_phone_is_said_in_the_click_to_dial_box(
    desk: Desk, pbx: AMIServer, calls: Originations
) -> None:
    async with chromium() as browser:
        context, page = await new_page(browser)
        await login(page, desk.url, "alice", PASSWORD)
        await page.fill("#dial-form input[name=number]", "(555) 123-4567")
        await page.locator("#dial-form").evaluate("f => f.requestSubmit()")
        status = page.locator("#dial-status")
        await expect(status).to_have_text("Your phone rings: pick up to call +15551234567.")
        (sent,) = await pbx.wait_action("Originate")
        assert (sent.get("Channel"), sent.get("Async")) == ("PJSIP/101", "true")
        pbx.emit(calls.agent_does_not_answer(calls.placed[0].channel_id, "0"))
        await expect(status).to_have_text(
            "Your phone is offline or unreachable: +15551234567 was not called"
        )
        await expect(status).to_have_class("form-status small error")
        await shot(page, "dial-outcome-offline-1366")
        await context.close()


async def test_an_answered_phone_is_said_connected(
    desk: Desk, pbx: AMIServer, calls: Originations
) -> None:
    async with chromium() as browser:
        context, page = await new_page(browser)
        await login(page, desk.url, "alice", PASSWORD)
        await page.fill("#dial-form input[name=number]", "+15551234567")
        await page.locator("#dial-form").evaluate("f => f.requestSubmit()")
        await pbx.wait_action("Originate")
        pbx.emit(calls.agent_answers(calls.placed[0].channel_id))
        status = page.locator("#dial-status")
        await expect(status).to_have_text(
            "Connected: your phone answered and is calling +15551234567"
        )
        await expect(status).to_have_class("form-status small ok")
        await context.close()
