"""What became of a click-to-dial reaches the agent who dialled, on every socket of theirs
and no one else's: an `agent.dial` event on the bus (from the AMI lease holder) becomes a
`dial.result` frame in words; a dial the PBX says nothing more about within its wait is
told as unknown (docs/contracts.md, "agent.dial")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.screenpop.conftest import Desk, make_desk
from tests.screenpop.wsclient import Tab, open_tab

# short, so that a test sees the wait end; how long the real one is is not tested here
WAIT_S = 0.3


@pytest.fixture
async def dial_desk(tmp_path: Path) -> AsyncIterator[Desk]:
    async for item in make_desk(tmp_path, dial_outcome_s=WAIT_S):
        yield item


async def _dial(desk: Desk, session: aiohttp.ClientSession, number: str) -> dict[str, Any]:
    async with session.post(
        f"{desk.url}/api/v1/dial",
        json={"number": number},
        headers={"X-CSRF-Token": await desk.csrf(session)},
    ) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def _settled(tab: Tab) -> None:
    """Every frame the hub had for this tab before now has been read."""
    await tab.send(type="ping")
    await tab.until_type("pong")


async def test_an_offline_phone_is_told_to_its_agent_in_words_on_every_tab(
    dial_desk: Desk,
) -> None:
    desk = dial_desk
    async with await desk.logged_in("alice") as alice, await desk.logged_in("bob") as bob:
        first, second = await open_tab(alice, desk.url), await open_tab(alice, desk.url)
        other = await open_tab(bob, desk.url)
        for tab in (first, second, other):
            await tab.until_type("welcome")
        await desk.publish(
            "agent.dial",
            "callpop-7",
            interface="PJSIP/101",
            number="+15551234567",
            outcome="offline",
            reason="0",
        )
        for tab in (first, second):
            frame = await tab.until_type("dial.result")
            assert frame == {
                "type": "dial.result",
                "call": "callpop-7",
                "number": "+15551234567",
                "outcome": "offline",
                "message": "Your phone is offline or unreachable: +15551234567 was not called",
            }
        await _settled(other)
        assert [f for f in other.seen if f["type"] == "dial.result"] == []


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        ("no_answer", "Your phone did not answer: +15551234567 was not called"),
        ("busy", "Your phone is busy: +15551234567 was not called"),
        ("connected", "Connected: your phone answered and is calling +15551234567"),
    ],
)
async def test_each_outcome_has_its_words(dial_desk: Desk, outcome: str, message: str) -> None:
    async with await dial_desk.logged_in("alice") as alice:
        tab = await open_tab(alice, dial_desk.url)
        await tab.until_type("welcome")
        await dial_desk.publish(
            "agent.dial", "callpop-8", interface="PJSIP/101", number="+15551234567", outcome=outcome
        )
        frame = await tab.until_type("dial.result")
        assert (frame["outcome"], frame["message"]) == (outcome, message)


async def test_a_dial_the_pbx_says_nothing_more_about_is_told_as_unknown(
    dial_desk: Desk,
) -> None:
    async with await dial_desk.logged_in("alice") as alice:
        tab = await open_tab(alice, dial_desk.url)
        await tab.until_type("welcome")
        answer = await _dial(dial_desk, alice, "(555) 123-4567")
        assert (answer["call"], answer["outcome_s"]) == ("dial-1", WAIT_S)
        frame = await tab.until_type("dial.result")
        assert (frame["call"], frame["outcome"]) == ("dial-1", "unknown")
        assert frame["message"] == (
            "The PBX has not said whether your phone took the call to +15551234567: "
            "check your phone before trying again"
        )


async def test_a_dial_whose_outcome_came_is_not_told_as_unknown_later(dial_desk: Desk) -> None:
    async with await dial_desk.logged_in("alice") as alice:
        tab = await open_tab(alice, dial_desk.url)
        await tab.until_type("welcome")
        await _dial(dial_desk, alice, "+15551234567")
        await dial_desk.publish(
            "agent.dial", "dial-1", interface="PJSIP/101", number="+15551234567", outcome="busy"
        )
        assert (await tab.until_type("dial.result"))["outcome"] == "busy"
        # a second dial, never answered, is told unknown once its wait ends, which is
        # after the first's would have: the first is not told again
        await _dial(dial_desk, alice, "+15557654321")
        unknown = await tab.until(
            lambda f: f["type"] == "dial.result" and f["outcome"] == "unknown"
        )
        assert unknown["call"] == "dial-2"
        told = [(f["call"], f["outcome"]) for f in tab.seen if f["type"] == "dial.result"]
        assert told == [("dial-1", "busy"), ("dial-2", "unknown")]


async def test_without_an_outcome_to_wait_for_a_dial_is_only_queued(desk: Desk) -> None:
    async with await desk.logged_in("alice") as alice:
        answer = await _dial(desk, alice, "+15551234567")
    assert answer["outcome_s"] is None
