"""Click-to-dial through `callpop serve` without ARI: an `Originate` on the AMI
connection (the AMI simulator sees it), Asterisk's refusal as the agent's message, and
what became of the dial (its OriginateResponse) on the agent's socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callpop.ami.codec import Message
from callpop.ami.controls import DIAL_OUTCOME_WAIT_S
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_originate import Originations
from tests.callpop.test_restart import Serve, logged_in
from tests.callpop.test_restart import serve as serve  # the fixture, with alice on PJSIP/101
from tests.screenpop.wsclient import open_tab


def _queued(action: Message) -> list[list[tuple[str, str]]]:
    return [[("Response", "Success"), ("Message", "Originate successfully queued")]]


def _denied(action: Message) -> list[list[tuple[str, str]]]:
    return [[("Response", "Error"), ("Message", "Permission denied")]]


@pytest.fixture
async def pbx() -> AsyncIterator[AMIServer]:
    async with AMIServer(username="callpop", secret="pw", responders={"Originate": _queued}) as s:
        yield s


async def _dial(serve: Serve, number: str) -> tuple[int, dict[str, object]]:
    async with await logged_in(serve.url, "alice") as alice:
        async with alice.get(f"{serve.url}/agent") as page:
            html = await page.text()
        token = html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
        async with alice.post(
            f"{serve.url}/api/v1/dial", json={"number": number}, headers={"X-CSRF-Token": token}
        ) as response:
            return response.status, await response.json()


async def test_click_to_dial_without_ari_originates_through_ami(
    serve: Serve, pbx: AMIServer
) -> None:
    await serve.start()
    await pbx.wait_logins(1)
    status, body = await _dial(serve, "(555) 123-4567")
    assert (status, body["number"]) == (200, "+15551234567")
    (sent,) = await pbx.wait_action("Originate")
    assert (sent.get("Channel"), sent.get("Exten")) == ("PJSIP/101", "+15551234567")
    assert body["call"] == sent.action_id


async def test_a_refused_originate_reaches_the_agent_as_asterisks_reason(
    serve: Serve, pbx: AMIServer
) -> None:
    pbx.responders["Originate"] = _denied
    await serve.start()
    await pbx.wait_logins(1)
    status, body = await _dial(serve, "(555) 123-4567")
    assert status == 502
    assert "refused by Asterisk: Permission denied" in str(body)


async def test_what_became_of_the_dial_reaches_the_agents_socket(
    serve: Serve, pbx: AMIServer
) -> None:
    # the lease holder's listener follows the OriginateResponse (callpop/ami/dials.py)
    calls = Originations()
    pbx.answers.append(calls)
    await serve.start()
    await pbx.wait_logins(1)
    async with await logged_in(serve.url, "alice") as alice:
        tab = await open_tab(alice, serve.url)
        await tab.until_type("welcome")
        async with alice.get(f"{serve.url}/agent") as page:
            html = await page.text()
        token = html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
        async with alice.post(
            f"{serve.url}/api/v1/dial",
            json={"number": "+15551234567"},
            headers={"X-CSRF-Token": token},
        ) as response:
            body = await response.json()
        assert body["outcome_s"] == DIAL_OUTCOME_WAIT_S
        pbx.emit(calls.agent_does_not_answer(calls.placed[0].channel_id, "5"))
        frame = await tab.until_type("dial.result")
        assert (frame["call"], frame["outcome"]) == (body["call"], "busy")
        assert frame["message"] == "Your phone is busy: +15551234567 was not called"
