"""Where the virtual PBX sends a caller after the IVR, by CALLPOP_OUTCOME: an agent's own
phone (Dial, which pops on DialBegin), a voicemail, the IVR's hang-up, an extension the
demo has no phone for. A flow with one key per way out drives it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from callpop.config import Config, HostPort
from callpop.demo.compose import DemoOptions, DemoServer
from tests.demo.conftest import OPEN_TUESDAY
from tests.demo.web_client import Frames, heard, kind, logged_in

ROUTES = """\
description: Every way out of the IVR, one key each.
entry: menu
nodes:
  menu:
    type: menu
    label: Routes
    prompts:
      - sound: routes-menu
        text: For Alice press 1, to leave a message press 2, to hang up press 3, for the desk press 4.
    options:
      "1": {goto: alice}
      "2": {goto: message}
      "3": {goto: bye}
      "4": {goto: desk}
  alice:
    type: transfer
    agent: PJSIP/101
    prompts:
      - sound: routes-alice
        text: Connecting you to Alice.
  message:
    type: voicemail
    mailbox: 8000@acme
  bye:
    type: hangup
    prompts:
      - sound: goodbye
        text: Goodbye.
  desk:
    type: transfer
    extension: "7100"
"""


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[DemoServer]:
    (tmp_path / "dialplan" / "flows").mkdir(parents=True)
    (tmp_path / "dialplan" / "flows" / "main.yaml").write_text(ROUTES)
    config = Config.model_validate({"dialplan": str(tmp_path / "dialplan")})
    options = DemoOptions(
        web=HostPort("127.0.0.1", 0),
        fastagi=HostPort("127.0.0.1", 0),
        database=tmp_path / "demo.db",
        customers=10,
        at=OPEN_TUESDAY,
        pace=0.1,
    )
    async with DemoServer(config, options, environ={}) as server:
        yield server


async def call_and_press(demo: DemoServer, http: aiohttp.ClientSession, key: str) -> Frames:
    assert demo.urls is not None
    phone = Frames(await http.ws_connect(demo.urls.base + "/demo/phone/ws"))
    await phone.send({"type": "dial", "number": "+15550104321", "name": "Sean Chen"})
    await phone.until(heard("For Alice press 1"))
    await phone.send({"type": "key", "key": key})
    return phone


async def test_a_transfer_to_an_agent_dials_their_phone_and_pops_on_the_ring(
    demo: DemoServer,
) -> None:
    assert demo.urls is not None and demo.runtime is not None
    async with (
        await logged_in(demo.urls.base, "alice", "alice") as alice,
        alice.ws_connect("/demo/softphone/ws") as softphone_ws,
        aiohttp.ClientSession() as http,
    ):
        softphone = Frames(softphone_ws)
        await softphone.until(kind("phone", state="idle"))
        phone = await call_and_press(demo, http, "1")
        await phone.until(kind("state", state="ringing", agent="alice"))
        ringing = await softphone.until(kind("phone", state="ringing"))
        await softphone.send({"type": "answer"})
        await phone.until(kind("connected", agent="alice"))
        await phone.send({"type": "hangup"})
        ended = await phone.until(kind("state", state="ended"))
        await softphone.until(kind("phone", state="idle"))
        await phone.ws.close()
    assert ringing["call"]["queue"] is None
    assert ended["reason"] == "You hung up after talking."
    pops = [
        (e.type, e.data.get("interface"))
        for e in await demo.runtime.bus.replay(0)
        if e.call_id == ended["call_id"] and e.type.startswith("agent.")
    ]
    assert pops == [
        ("agent.ringing", "PJSIP/101"),
        ("agent.connected", "PJSIP/101"),
        ("agent.completed", "PJSIP/101"),
    ]


async def test_an_agent_who_rejects_a_direct_call_ends_it(demo: DemoServer) -> None:
    assert demo.urls is not None
    async with (
        await logged_in(demo.urls.base, "alice", "alice") as alice,
        alice.ws_connect("/demo/softphone/ws") as softphone_ws,
        aiohttp.ClientSession() as http,
    ):
        softphone = Frames(softphone_ws)
        await softphone.until(kind("phone", state="idle"))
        phone = await call_and_press(demo, http, "1")
        await softphone.until(kind("phone", state="ringing"))
        await softphone.send({"type": "reject"})
        ended = await phone.until(kind("state", state="ended"))
        await phone.ws.close()
    assert ended["reason"] == "alice did not answer."


async def test_a_voicemail_records_until_the_pound_key(demo: DemoServer) -> None:
    async with aiohttp.ClientSession() as http:
        phone = await call_and_press(demo, http, "2")
        await phone.until(kind("state", state="voicemail", mailbox="8000@acme"))
        await phone.send({"type": "key", "key": "#"})
        ended = await phone.until(kind("state", state="ended"))
        await phone.ws.close()
    assert ended["reason"] == "Message left in mailbox 8000@acme."


async def test_the_ivr_hanging_up_ends_the_call(demo: DemoServer) -> None:
    async with aiohttp.ClientSession() as http:
        phone = await call_and_press(demo, http, "3")
        await phone.until(heard("Goodbye."))
        ended = await phone.until(kind("state", state="ended"))
        await phone.ws.close()
    assert ended["reason"] == "The IVR ended the call."


async def test_an_extension_without_a_phone_in_the_demo_cannot_be_dialled(demo: DemoServer) -> None:
    async with aiohttp.ClientSession() as http:
        phone = await call_and_press(demo, http, "4")
        ended = await phone.until(kind("state", state="ended"))
        await phone.ws.close()
    assert ended["reason"] == (
        "PJSIP/7100 has no free phone in this demo: Dial() fails (CHANUNAVAIL) and the call ends."
    )
