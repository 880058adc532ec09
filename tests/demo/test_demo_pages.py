"""The demo's pages and sockets, driven as the browser would but without one: the test
phone needs no login, its socket and the agent's phone take this site's pages only,
the demo phone is on the agent page alone, and calls go where the dialplan says."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest

from callpop.demo.compose import DemoServer
from callpop.demo.context import UNKNOWN_NUMBER, known_callers
from tests.demo.conftest import SEED
from tests.demo.web_client import Frames, heard, kind, logged_in


async def test_the_phone_page_lists_demo_customers_and_needs_no_login(demo: DemoServer) -> None:
    assert demo.urls is not None
    async with aiohttp.ClientSession() as http:
        response = await http.get(demo.urls.phone)
        page = await response.text()
    assert response.status == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    found = re.search(r'<script type="application/json" id="boot">(.*?)</script>', page, re.S)
    assert found is not None
    boot = json.loads(found.group(1))
    assert [c["number"] for c in boot["callers"]] == [c.number for c in known_callers(SEED, 6)]
    assert boot["unknown_number"] == UNKNOWN_NUMBER
    assert "Tue 24 Nov 10:30 America/New_York" in boot["ivr_clock"]


async def test_the_demo_phone_is_added_to_the_agent_page_only(demo: DemoServer) -> None:
    assert demo.urls is not None
    async with await logged_in(demo.urls.base, "alice", "alice") as alice:
        desk = await (await alice.get("/agent")).text()
    async with await logged_in(demo.urls.base, "sam", "sam") as sam:
        wallboard = await (await sam.get("/supervisor")).text()
    assert desk.count("/demo/static/softphone.js") == 1
    assert desk.index("/demo/static/softphone.js") < desk.index("</body>")
    assert "softphone" not in wallboard


async def test_sockets_from_other_sites_are_refused(demo: DemoServer) -> None:
    assert demo.urls is not None
    async with aiohttp.ClientSession() as http:
        for path in ("/demo/phone/ws", "/demo/softphone/ws"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(
                    demo.urls.base + path, headers={"Origin": "http://evil.example"}
                )
            assert refused.value.status == 403


async def test_the_agents_phone_needs_a_logged_in_agent(demo: DemoServer) -> None:
    assert demo.urls is not None
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(demo.urls.base + "/demo/softphone/ws")
    assert refused.value.status == 401


async def test_a_frame_that_is_not_json_closes_the_phone_socket(demo: DemoServer) -> None:
    assert demo.urls is not None
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(demo.urls.base + "/demo/phone/ws") as ws,
    ):
        await ws.send_str("dial 7000")
        message = await ws.receive()
        while message.type is aiohttp.WSMsgType.TEXT:  # the flood and queue state, told first
            message = await ws.receive()
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert message.data == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_a_vip_goes_straight_to_the_vip_queue_and_talks_to_the_agent_who_answers(
    demo: DemoServer,
) -> None:
    assert demo.urls is not None and demo.runtime is not None
    vip = known_callers(SEED, 1)[0]
    async with (
        await logged_in(demo.urls.base, "alice", "alice") as alice,
        alice.ws_connect("/demo/softphone/ws") as softphone_ws,
        aiohttp.ClientSession() as http,
        http.ws_connect(demo.urls.base + "/demo/phone/ws") as phone_ws,
    ):
        softphone, phone = Frames(softphone_ws), Frames(phone_ws)
        await softphone.until(kind("phone", state="idle"))
        await phone.send({"type": "dial", "number": vip.number, "name": vip.name})
        await phone.until(heard("As a Premier customer"))
        outcome = await phone.until(kind("outcome"))
        ringing = await softphone.until(kind("phone", state="ringing"))
        await softphone.send({"type": "answer"})
        await phone.until(kind("connected", agent="alice"))
        await softphone.until(kind("phone", state="talking"))
        await softphone.send({"type": "hangup"})
        ended = await phone.until(kind("state", state="ended"))
    assert (outcome["outcome"], outcome["target"]) == ("queue", "vip")
    assert ringing["call"]["number"] == vip.number
    assert ended["reason"] == "alice hung up after talking."
    events = [
        (e.type, e.data.get("interface"))
        for e in await demo.runtime.bus.replay(0)
        if e.call_id == ended["call_id"] and e.type.startswith("agent.")
    ]
    assert events == [
        ("agent.ringing", "PJSIP/101"),
        ("agent.connected", "PJSIP/101"),
        ("agent.completed", "PJSIP/101"),
    ]


async def test_the_unknown_caller_can_ask_for_the_operator_with_0(demo: DemoServer) -> None:
    assert demo.urls is not None
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(demo.urls.base + "/demo/phone/ws") as phone_ws,
    ):
        phone = Frames(phone_ws)
        await phone.send({"type": "dial", "number": UNKNOWN_NUMBER})
        await phone.until(heard("For billing and payments, press 1"))
        await phone.send({"type": "key", "key": "0"})
        outcome = await phone.until(kind("outcome"))
        waiting = await phone.until(kind("queue"))
        await phone.send({"type": "hangup"})
        ended = await phone.until(kind("state", state="ended"))
    assert (outcome["outcome"], outcome["target"]) == ("queue", "operator")
    assert waiting["ringing"] == []  # nobody logged in
    assert ended["reason"] == "You hung up while waiting in the queue."


async def test_dialling_again_during_a_call_is_refused(demo: DemoServer) -> None:
    assert demo.urls is not None
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(demo.urls.base + "/demo/phone/ws") as phone_ws,
    ):
        phone = Frames(phone_ws)
        await phone.send({"type": "dial", "number": UNKNOWN_NUMBER})
        await phone.until(kind("state", state="ivr"))
        await phone.send({"type": "dial", "number": UNKNOWN_NUMBER})
        error = await phone.until(kind("error"))
        await phone.send({"type": "hangup"})
        ended = await phone.until(kind("state", state="ended"))
    assert error["text"] == "Hang up before dialling again."
    assert ended["reason"] == "You hung up in the IVR."


async def test_a_phone_page_that_goes_away_hangs_its_call_up(demo: DemoServer) -> None:
    assert demo.urls is not None and demo.runtime is not None
    async with demo.runtime.bus.subscribe(None) as events:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(demo.urls.base + "/demo/phone/ws") as phone_ws,
        ):
            phone = Frames(phone_ws)
            await phone.send({"type": "dial", "number": UNKNOWN_NUMBER})
            await phone.until(heard("For billing and payments, press 1"))
        async for event in events:
            if event.type == "ivr.ended":
                break
    assert event.data["outcome"] == "hangup"
