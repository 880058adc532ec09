"""Talk time and wrap-up time apart (issue 14 item 5): talk runs from the answer to the
hang-up, wrap-up from the hang-up to the outcome; "Today's calls" and its API show both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, Desk, make_desk, now

TALK_S = 95
WRAPUP_S = 42


class ShiftClock:
    """The desk's clock, standing still until the test moves it on."""

    def __init__(self) -> None:
        self.at = now()

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: int) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ShiftClock:
    return ShiftClock()


@pytest.fixture
async def desk(tmp_path: Path, clock: ShiftClock) -> AsyncIterator[Desk]:
    async for desk in make_desk(tmp_path, clock=clock):
        yield desk


async def dispose(desk: Desk, session: aiohttp.ClientSession, call: str) -> None:
    token = await desk.csrf(session)
    async with session.post(
        f"{desk.url}/api/v1/calls/{call}/disposition",
        json={"disposition": "resolved", "notes": ""},
        headers={"X-CSRF-Token": token},
    ) as response:
        assert response.status == 200, await response.text()


async def todays_call(desk: Desk, session: aiohttp.ClientSession, call: str) -> dict[str, Any]:
    await desk.settled()
    async with session.get(f"{desk.url}/api/v1/calls/today") as response:
        calls: list[dict[str, Any]] = (await response.json())["calls"]
    return next(c for c in calls if c["call_id"] == call)


async def talk_then_hang_up(desk: Desk, clock: ShiftClock, call: str) -> None:
    """Alice answers, talks TALK_S seconds and the caller hangs up."""
    await desk.ivr(call, number="+15551230100")
    await desk.ring(call, "alice")
    await desk.answer(call, "alice")
    await desk.settled()
    clock.advance(TALK_S)
    await desk.complete(call, "alice")
    await desk.settled()


async def test_an_outcome_given_after_the_call_counts_as_wrap_up_not_talk(
    desk: Desk, clock: ShiftClock
) -> None:
    call = desk.next_call_id()
    async with await desk.logged_in("alice") as alice:
        await talk_then_hang_up(desk, clock, call)
        in_wrapup = await todays_call(desk, alice, call)
        clock.advance(WRAPUP_S)
        await dispose(desk, alice, call)
        done = await todays_call(desk, alice, call)
    assert (in_wrapup["state"], in_wrapup["talk_s"], in_wrapup["wrapup_s"]) == (
        "wrapup",
        TALK_S,
        None,
    )
    assert (done["state"], done["talk_s"], done["wrapup_s"]) == ("done", TALK_S, WRAPUP_S)
    assert done["hung_up_at"] == in_wrapup["hung_up_at"]


async def test_an_outcome_given_during_the_call_leaves_no_wrap_up(
    desk: Desk, clock: ShiftClock
) -> None:
    call = desk.next_call_id()
    async with await desk.logged_in("alice") as alice:
        await desk.ivr(call, number="+15551230101")
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        await desk.settled()
        clock.advance(TALK_S)
        await dispose(desk, alice, call)
        await desk.complete(call, "alice")
        done = await todays_call(desk, alice, call)
    assert (done["state"], done["talk_s"], done["wrapup_s"]) == ("done", TALK_S, 0)
    assert done["hung_up_at"] == done["ended_at"]


@pytest.mark.browser
@pytest.mark.parametrize("size", ["1366", "1920"])
async def test_todays_calls_shows_talk_and_wrap_up_apart(
    desk: Desk, clock: ShiftClock, size: str
) -> None:
    call = desk.next_call_id()
    async with chromium() as browser:
        context, page = await new_page(browser, size)
        await login(page, desk.url, "alice", PASSWORD)
        await talk_then_hang_up(desk, clock, call)
        await expect(page.locator(f'.pop-card[data-call-id="{call}"]')).to_have_attribute(
            "data-state", "wrapup"
        )
        clock.advance(WRAPUP_S)
        await page.select_option("select[name=disposition]", "resolved")
        await page.click("#save-disposition")
        await expect(page.locator("#idle")).to_be_visible()
        row = page.locator(f'#today-calls [data-call-id="{call}"]')
        await expect(row.locator(".today-talk")).to_have_text("talk 1:35")
        await expect(row.locator(".today-wrap")).to_have_text("wrap-up 0:42")
        # nothing in the row is cut off
        assert await row.evaluate("node => node.scrollWidth <= node.clientWidth")
        await shot(page, f"agent-today-talk-wrapup-{size}")
        await context.close()
