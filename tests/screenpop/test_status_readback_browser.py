"""The agent's status read back from the PBX, in Chromium: a pause made elsewhere (a
phone's feature code, a supervisor on the console) reaches the panel as the member
events Asterisk sends (tests/fixtures/asterisk/ami/controls/queuepause.txt), through the
AMI listener and the bus; the status menu and the idle panel follow it, and a page
opened later starts from it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from callpop.ami.listener import AMIListener
from callpop.pbx_sim.ami import AMIServer, read_transcript, transcript_events
from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, Desk, make_desk
from tests.screenpop.wsclient import open_tab

pytestmark = pytest.mark.browser

QUEUEPAUSE = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "asterisk"
    / "ami"
    / "controls"
    / "queuepause.txt"
)
(LUNCH,) = transcript_events(read_transcript(QUEUEPAUSE))  # PJSIP/101 paused: Lunch


def member_pause(reason: str | None) -> bytes:
    """The fixture's QueueMemberPause with another reason, or unpaused (None)."""
    if reason is None:
        return LUNCH.replace(b"Paused: 1\r\n", b"Paused: 0\r\n").replace(
            b"PausedReason: Lunch\r\n", b"PausedReason: \r\n"
        )
    return LUNCH.replace(b"PausedReason: Lunch", b"PausedReason: " + reason.encode())


@dataclass
class Floor:
    desk: Desk
    pbx: AMIServer


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    async with AMIServer(username="callpop", secret="pw") as pbx:
        async for desk in make_desk(tmp_path):
            ami = AMIListener("127.0.0.1", pbx.port, "callpop", "pw", desk.bus.publish)
            await ami.start()
            try:
                async with asyncio.timeout(5):
                    await ami.client.wait_connected()
                yield Floor(desk, pbx)
            finally:
                await ami.stop()


async def shows(page: Page, value: str, idle: str) -> None:
    await expect(page.locator("#agent-status-select")).to_have_value(value)
    await expect(page.locator("#idle h2")).to_have_text(idle)


async def test_a_pause_made_on_the_phone_shows_in_the_panel(floor: Floor) -> None:
    async with chromium() as browser:
        context, alice = await new_page(browser)
        await login(alice, floor.desk.url, "alice", PASSWORD)
        await shows(alice, "ready", "Ready for calls")

        floor.pbx.emit([member_pause("Lunch")])
        await shows(alice, "break:Lunch", "On break: Lunch")
        await expect(alice.locator("#agent-status-message")).to_have_text("Paused in your queues")
        await shot(alice, "status-readback-lunch-1366")

        floor.pbx.emit([member_pause(None)])
        await shows(alice, "ready", "Ready for calls")
        await context.close()


async def test_a_supervisors_pause_with_its_own_reason_is_shown_as_it_is(floor: Floor) -> None:
    async with chromium() as browser:
        context, alice = await new_page(browser)
        await login(alice, floor.desk.url, "alice", PASSWORD)
        await shows(alice, "ready", "Ready for calls")
        floor.pbx.emit([member_pause("Coaching")])  # not a reason of pause_reasons.yaml
        await shows(alice, "break:Coaching", "On break: Coaching")
        await expect(alice.locator("#agent-status-select option:checked")).to_have_text(
            "Break: Coaching"
        )
        await context.close()


async def test_a_page_opened_after_the_pause_starts_from_it(floor: Floor) -> None:
    async with await floor.desk.logged_in("alice") as alice:
        tab = await open_tab(alice, floor.desk.url)
        floor.pbx.emit([member_pause("Lunch")])
        assert await tab.until_type("agent.status") == {
            "type": "agent.status",
            "status": "break",
            "reason": "Lunch",
        }
        later = await open_tab(alice, floor.desk.url)
        frame = await later.until_type("agent.status")
        assert (frame["status"], frame["reason"]) == ("break", "Lunch")
    async with await floor.desk.logged_in("bob") as bob:  # alice's status is hers alone
        tab = await open_tab(bob, floor.desk.url)
        await tab.send(type="ping")
        assert (await tab.until_type("pong"))["type"] == "pong"
        assert all(f.get("type") != "agent.status" for f in tab.seen)


def member_in_call(status: str) -> bytes:
    """The fixture's member event as a `QueueMemberStatus` of alice's device, not paused,
    `Status` 2 (in use: on a call) or 1 (not in use)."""
    return (
        member_pause(None)
        .replace(b"Event: QueueMemberPause\r\n", b"Event: QueueMemberStatus\r\n")
        .replace(b"Status: 1\r\n", b"Status: " + status.encode() + b"\r\n")
        .replace(b"InCall: 0\r\n", b"InCall: " + (b"1" if status == "2" else b"0") + b"\r\n")
    )


async def test_an_agent_on_a_call_that_popped_nobody_is_on_a_call_on_the_wallboard(
    floor: Floor,
) -> None:
    async with (
        await floor.desk.logged_in("sue") as sue,
        await floor.desk.logged_in("alice") as alice,
    ):
        panel = await open_tab(alice, floor.desk.url)  # alice's panel is open: she is online
        await panel.until_type("welcome")
        board = await open_tab(sue, floor.desk.url, view="wallboard")

        def alice_is(state: str) -> Any:
            def seen(frame: dict[str, Any]) -> bool:
                if frame["type"] != "wallboard":
                    return False
                agents = {a["name"]: a for a in frame["board"]["agents"]}
                return bool(agents["alice"]["state"] == state)

            return seen

        await board.until(alice_is("available"))
        floor.pbx.emit([member_in_call("2")])  # a call that popped nobody (click-to-dial)
        frame = await board.until(alice_is("on_call"))
        alice_line = next(a for a in frame["board"]["agents"] if a["name"] == "alice")
        assert alice_line["call_id"] is None and alice_line["since"] is not None
        floor.pbx.emit([member_in_call("1")])
        await board.until(alice_is("available"))
