"""Call controls across instances: two `callpop serve` processes on one PostgreSQL
database and one Redis, one simulated Asterisk whose AMI lease one of them holds. The
agent's panel is on the other instance: their status change and their transfer are
relayed to the holder over Redis (callpop/ami/relay.py), go out on its AMI connection,
and the agent gets Asterisk's answer, refusals in Asterisk's words."""

from __future__ import annotations

import aiohttp
import pytest

from callpop.ami.codec import Message
from callpop.pbx_sim.ami_transfers import Transfers
from tests.ami.test_ami_instances import Instance, agent_panel, database
from tests.callpop.test_scale_out import Site, site

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

__all__ = ["database", "site"]  # the fixtures: two instances, PostgreSQL and Redis


def _queue_pause(action: Message) -> list[list[tuple[str, str]]]:
    """app_queue's answers (tests/fixtures/asterisk/ami/controls/queuepause*.txt)."""
    if action.get("Interface") == "PJSIP/101":
        return [[("Response", "Success"), ("Message", "Interface paused successfully")]]
    return [[("Response", "Error"), ("Message", "Interface not found")]]


async def post(
    http: aiohttp.ClientSession, instance: Instance, path: str, body: dict[str, str]
) -> tuple[int, dict[str, object]]:
    async with http.get(f"{instance.url}/agent") as page:
        html = await page.text()
    csrf = html.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
    async with http.post(
        f"{instance.url}{path}", json=body, headers={"X-CSRF-Token": csrf}
    ) as response:
        return response.status, await response.json()


async def test_a_break_asked_on_the_instance_without_the_lease_is_sent_by_the_holder(
    site: Site, database: str
) -> None:
    site.sim.responders["QueuePause"] = _queue_pause
    _holder, other = await site.roles(database)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await agent_panel(http, other)
        status, answer = await post(
            http, other, "/api/v1/status", {"status": "break", "reason": "Lunch"}
        )
    assert (status, answer) == (200, {"ok": True, "status": "break", "reason": "Lunch"})
    (sent,) = await site.sim.wait_action("QueuePause")
    assert [(k, v) for k, v in sent.headers if k != "ActionID"] == [
        ("Action", "QueuePause"),
        ("Interface", "PJSIP/101"),
        ("Paused", "true"),
        ("Reason", "Lunch"),
    ]
    assert site.sim.logins == 1  # on the holder's connection: the other never logged in


async def test_asterisks_refusal_of_a_relayed_control_reaches_the_agent_in_its_words(
    site: Site, database: str
) -> None:
    site.sim.responders["QueuePause"] = lambda action: [
        [("Response", "Error"), ("Message", "Permission denied")]
    ]
    _holder, other = await site.roles(database)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await agent_panel(http, other)
        status, answer = await post(http, other, "/api/v1/status", {"status": "acw"})
    assert (status, answer) == (
        502,
        {"error": "changing your status was refused by Asterisk: Permission denied"},
    )


async def test_a_transfer_asked_on_the_instance_without_the_lease_is_sent_by_the_holder(
    site: Site, database: str
) -> None:
    transfers = Transfers(site.sim, lambda exten, context: None)
    holder, other = await site.roles(database)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        panel = await agent_panel(http, other)
        call_id = await site.call(through=holder, ring=False)
        call = site.ring(call_id, f"1800000000.{site.calls}")
        site.sim.emit(call.answered())
        transfers.add(call)
        await panel.until(lambda f: f["type"] == "pop.accepted" and f["pop"]["call_id"] == call_id)
        status, answer = await post(
            http,
            other,
            f"/api/v1/calls/{call_id}/transfer",
            {"mode": "blind", "kind": "number", "target": "+15557654321"},
        )
        assert (status, answer["ok"]) == (200, True)
        (sent,) = await site.sim.wait_action("BlindTransfer")
        assert (sent.get("Channel"), sent.get("Exten")) == (call.leg.one.channel, "+15557654321")
        # Asterisk's events come back through the holder: alice's side goes to wrap-up
        await panel.until(lambda f: f["type"] == "pop.wrapup" and f["pop"]["call_id"] == call_id)
