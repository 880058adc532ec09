"""Call controls in the widget embedded in a CRM page (docs/widget-example.html on its own
origin), in Chromium, against the AMI simulator: a transfer from the widget's card is
`BlindTransfer` (or `Atxfer`) of the agent's channel and re-pops at the new agent; a break
from the widget's status menu is `QueuePause` with its reason; click-to-dial is `Originate`;
the queue's wrap-up runs down after a call; refusals are shown in the panel's words; the
same controls over the socket answer as the panel's POSTs do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from callpop.ami.codec import Message
from callpop.ami.controls import DIAL_CONTEXT, DIAL_OUTCOME_WAIT_S, AmiControls, panel_controls
from callpop.ami.dials import DialOutcomes
from callpop.ami.listener import AMIListener
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import Ids, Snapshot
from callpop.pbx_sim.ami_originate import Originations
from callpop.pbx_sim.ami_transfers import Transfers
from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, make_desk, write_dialplan
from tests.screenpop.test_transfer_browser import (
    PHONES,
    Floor,
    alice_takes_the_call,
    queue_call_to_alice,
)
from tests.screenpop.test_widget import crm_site, origin_of
from tests.screenpop.wsclient import open_tab

pytestmark = pytest.mark.browser


def _queue_pause(action: Message) -> list[list[tuple[str, str]]]:
    """app_queue's answer (tests/fixtures/asterisk/ami/controls/queuepause*.txt)."""
    if action.get("Interface") == "PJSIP/101":
        return [[("Response", "Success"), ("Message", "Interface paused successfully")]]
    return [[("Response", "Error"), ("Message", "Interface not found")]]


QUEUES_WITH_WRAPUP = """\
operator: operator
queues:
  operator: {strategy: ringall}
  billing: {strategy: ringall, wrapup: 3s}
"""


def _originate(action: Message) -> list[list[tuple[str, str]]]:
    """Asterisk's answer to an Async Originate (tests/fixtures/asterisk/ami/controls/originate.txt)."""
    return [[("Response", "Success"), ("Message", "Originate successfully queued")]]


@dataclass
class CrmFloor:
    floor: Floor
    crm_origin: str


@pytest.fixture
async def crm_floor(tmp_path: Path) -> AsyncIterator[CrmFloor]:
    async with (
        crm_site() as (crm, where),
        AMIServer(
            username="callpop",
            secret="pw",
            responders={"QueuePause": _queue_pause, "Originate": _originate},
        ) as pbx,
    ):
        dialplan = write_dialplan(tmp_path / "dialplan")
        (dialplan / "queues.yaml").write_text(QUEUES_WITH_WRAPUP)
        transfers = Transfers(pbx, lambda exten, context: PHONES.get((exten, context)))
        listener: list[AMIListener] = []
        controls = AmiControls(lambda: listener[0].client if listener else None)
        originate, agent_status, transfer = panel_controls(controls)
        async for desk in make_desk(
            tmp_path,
            web_origins=(origin_of(crm),),
            originate=originate,
            agent_status=agent_status,
            transfer=transfer,
            dial_outcome_s=DIAL_OUTCOME_WAIT_S,
        ):
            where["callpop"] = desk.url
            dials = DialOutcomes(desk.bus.publish, context=DIAL_CONTEXT)
            ami = AMIListener(
                "127.0.0.1", pbx.port, "callpop", "pw", desk.bus.publish, observers=(dials.feed,)
            )
            listener.append(ami)
            await ami.start()
            try:
                async with asyncio.timeout(5):
                    await ami.client.wait_connected()
                yield CrmFloor(Floor(desk, pbx, transfers, Ids("1795389698", 40)), origin_of(crm))
            finally:
                await ami.stop()


async def alice_in_her_crm(browser: Browser, crm_floor: CrmFloor) -> tuple[BrowserContext, Page]:
    """Alice signs in to callpop (the tab she keeps open), opens the CRM page and clicks
    Connect callpop: the context and the CRM page, whose widget is connected."""
    context, callpop = await new_page(browser)
    await login(callpop, crm_floor.floor.desk.url, "alice", PASSWORD)
    page = await context.new_page()
    await page.goto(crm_floor.crm_origin + "/")
    async with context.expect_page() as popup_info:
        await page.get_by_role("button", name="Connect callpop").click()
    popup = await popup_info.value
    await popup.wait_for_event("close")
    await page.wait_for_function("window.CallPop.status === 'connected'")
    await page.wait_for_function("window.CallPop.controls !== null")
    return context, page


async def test_a_blind_transfer_from_the_widget_re_pops_at_bob(crm_floor: CrmFloor) -> None:
    floor = crm_floor.floor
    async with chromium() as browser:
        alice_ctx, crm = await alice_in_her_crm(browser, crm_floor)
        callpop = alice_ctx.pages[0]
        bob_ctx, bob = await new_page(browser)
        await login(bob, floor.desk.url, "bob", PASSWORD)

        call = await queue_call_to_alice(floor)
        # her notes, typed in the callpop tab she keeps open, go with the call
        await alice_takes_the_call(floor, callpop, "Disputes the March invoice; wants a refund.")
        card = crm.locator(f'[data-call-id="{call.call_id}"]')
        await expect(card).to_contain_text("Live")
        await expect(card).to_contain_text("Billing")
        form = card.locator("form[data-transfer]")
        await form.locator("select[name=kind]").select_option("agent")
        await form.locator("input[name=target]").fill("bob")
        await shot(crm, "widget-transfer-form-1366")
        await form.get_by_role("button", name="Transfer").click()
        await expect(card.locator("[data-transfer-status]")).to_have_text("Transferred to bob.")

        (sent,) = await floor.pbx.wait_action("BlindTransfer")
        assert (sent.get("Channel"), sent.get("Context"), sent.get("Exten")) == (
            call.leg.one.channel,  # alice's own leg, as AgentConnect named it
            "callpop-agents",
            "102",
        )
        bob_card = bob.locator(".pop-card")
        await expect(bob_card).to_have_count(1)
        await expect(bob_card).to_contain_text("Transferred call.")
        await expect(bob_card).to_contain_text("Disputes the March invoice; wants a refund.")
        await expect(bob_card).to_contain_text("Billing")  # the IVR path came along
        await expect(card).to_contain_text("Wrap-up")  # alice's side went to wrap-up
        await expect(form).to_be_hidden()  # nothing left to transfer
        await shot(crm, "widget-transfer-done-1366")
        await alice_ctx.close()
        await bob_ctx.close()


async def test_a_refused_transfer_is_shown_in_the_widget_in_the_panels_words(
    crm_floor: CrmFloor,
) -> None:
    floor = crm_floor.floor
    async with chromium() as browser:
        context, crm = await alice_in_her_crm(browser, crm_floor)
        call = await queue_call_to_alice(floor)
        card = crm.locator(f'[data-call-id="{call.call_id}"]')
        form = card.locator("form[data-transfer]")
        floor.transfers.calls.remove(call)  # the leg is gone on the PBX's side
        await form.locator("input[name=target]").fill("bob")
        await form.get_by_role("button", name="Transfer").click()
        await expect(card.locator("[data-transfer-status]")).to_have_text(
            "transferring the call to bob was refused by Asterisk: Channel specified does not exist"
        )
        await expect(form.get_by_role("button", name="Transfer")).to_be_enabled()
        await shot(crm, "widget-transfer-refused-1366")
        await context.close()


async def test_a_break_from_the_widget_pauses_the_agent_in_their_queues(
    crm_floor: CrmFloor,
) -> None:
    floor = crm_floor.floor
    async with chromium() as browser:
        context, crm = await alice_in_her_crm(browser, crm_floor)
        desk = crm.locator("[data-desk]")
        menu = desk.get_by_label("Status")
        await menu.select_option("break:Lunch")
        await expect(desk.locator("form[data-status] [role=status]")).to_have_text(
            "Paused in your queues"
        )
        (sent,) = await floor.pbx.wait_action("QueuePause")
        assert [(k, v) for k, v in sent.headers if k != "ActionID"] == [
            ("Action", "QueuePause"),
            ("Interface", "PJSIP/101"),
            ("Paused", "true"),
            ("Reason", "Lunch"),
        ]
        assert await crm.evaluate("window.CallPop.agentStatus") == {
            "status": "break",
            "reason": "Lunch",
        }
        await shot(crm, "widget-break-1366")
        await menu.select_option("ready")
        await expect(desk.locator("form[data-status] [role=status]")).to_have_text(
            "Ready for calls"
        )
        await context.close()


async def test_a_refused_pause_puts_the_widgets_menu_back_and_says_why(
    crm_floor: CrmFloor,
) -> None:
    floor = crm_floor.floor
    floor.pbx.responders["QueuePause"] = lambda action: [
        [("Response", "Error"), ("Message", "Interface not found")]
    ]
    async with chromium() as browser:
        context, crm = await alice_in_her_crm(browser, crm_floor)
        desk = crm.locator("[data-desk]")
        await desk.get_by_label("Status").select_option("acw")
        await expect(desk.locator("form[data-status] [role=status]")).to_have_text(
            "changing your status was refused by Asterisk: Interface not found"
        )
        await expect(desk.get_by_label("Status")).to_have_value("ready")
        await shot(crm, "widget-pause-refused-1366")
        await context.close()


async def test_the_socket_refuses_controls_as_the_panel_api_does(crm_floor: CrmFloor) -> None:
    """Same request, same answer: an unknown break reason, a call that is not the
    agent's, a number that is not one; each names its field as the POST's 400 does."""
    desk = crm_floor.floor.desk
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        cases = [
            ({"action": "status", "status": "break", "reason": "Nap"}, "status"),
            (
                {
                    "action": "transfer",
                    "call_id": "nope",
                    "kind": "queue",
                    "target": "billing",
                    "mode": "blind",
                },
                "transfer",
            ),
            ({"action": "dial", "number": "not a number"}, "dial"),
        ]
        for n, (message, route) in enumerate(cases):
            await tab.send(type="control", id=f"c{n}", **message)
            answer = await tab.until_type("control.result")
            body = {k: v for k, v in message.items() if k not in ("action", "call_id")}
            path = {
                "status": "/api/v1/status",
                "dial": "/api/v1/dial",
                "transfer": "/api/v1/calls/nope/transfer",
            }[route]
            async with alice.post(
                desk.url + path, json=body, headers={"X-CSRF-Token": await desk.csrf(alice)}
            ) as response:
                posted = await response.json()
                assert answer == {
                    "type": "control.result",
                    "id": f"c{n}",
                    "ok": False,
                    "status": response.status,
                    **posted,
                }


async def test_after_a_call_the_widget_shows_the_queues_wrapup_then_ready(
    crm_floor: CrmFloor,
) -> None:
    floor = crm_floor.floor
    async with chromium() as browser:
        context, crm = await alice_in_her_crm(browser, crm_floor)
        call = await queue_call_to_alice(floor)
        await expect(crm.locator(f'[data-call-id="{call.call_id}"]')).to_contain_text("Live")
        floor.pbx.emit(call.completed(reason="caller"))
        said = crm.locator("[data-desk] form[data-status] [role=status]")
        await expect(said).to_contain_text("Wrap-up: ")
        await expect(crm.locator("[data-desk]").get_by_label("Status")).to_have_value("ready")
        await shot(crm, "widget-wrapup-1366")
        await expect(said).to_have_text("Ready for calls")  # the queue's 3 s passed
        await context.close()


async def test_click_to_dial_from_the_widget_rings_the_agents_phone_first(
    crm_floor: CrmFloor,
) -> None:
    floor = crm_floor.floor
    async with chromium() as browser:
        context, crm = await alice_in_her_crm(browser, crm_floor)
        dial = crm.locator("[data-desk] form[data-dial]")
        await dial.get_by_label("Number to call").fill("(555) 765-4321")
        await dial.get_by_role("button", name="Call").click()
        await expect(dial.get_by_role("status")).to_have_text(
            "Your phone rings: pick up to call +15557654321."
        )
        (sent,) = await floor.pbx.wait_action("Originate")
        assert (sent.get("Channel"), sent.get("Exten"), sent.get("Async")) == (
            "PJSIP/101",
            "+15557654321",
            "true",
        )
        await context.close()


async def test_a_phone_that_does_not_answer_is_said_under_the_widgets_dial_box(
    crm_floor: CrmFloor,
) -> None:
    floor = crm_floor.floor
    calls = Originations()
    floor.pbx.answers.append(calls)  # Originate queued, then its OriginateResponse
    async with chromium() as browser:
        context, crm = await alice_in_her_crm(browser, crm_floor)
        dial = crm.locator("[data-desk] form[data-dial]")
        await dial.get_by_label("Number to call").fill("(555) 765-4321")
        await dial.get_by_role("button", name="Call").click()
        status = dial.get_by_role("status")
        await expect(status).to_have_text("Your phone rings: pick up to call +15557654321.")
        await floor.pbx.wait_action("Originate")
        floor.pbx.emit(calls.agent_does_not_answer(calls.placed[0].channel_id, "3"))
        await expect(status).to_have_text("Your phone did not answer: +15557654321 was not called")
        await expect(status).to_have_class("msg error")
        await shot(crm, "widget-dial-no-answer-1366")
        await context.close()


async def test_an_attended_transfer_from_the_widget_pops_bob_when_alice_hangs_up(
    crm_floor: CrmFloor,
) -> None:
    floor = crm_floor.floor
    async with chromium() as browser:
        alice_ctx, crm = await alice_in_her_crm(browser, crm_floor)
        bob_ctx, bob = await new_page(browser)
        await login(bob, floor.desk.url, "bob", PASSWORD)
        call = await queue_call_to_alice(floor)
        card = crm.locator(f'[data-call-id="{call.call_id}"]')
        form = card.locator("form[data-transfer]")
        await form.locator("select[name=mode]").select_option("attended")
        await form.locator("input[name=target]").fill("bob")
        await form.get_by_role("button", name="Transfer").click()
        await expect(card.locator("[data-transfer-status]")).to_have_text(
            "Talk to bob, then hang up to hand the caller over."
        )
        (sent,) = await floor.pbx.wait_action("Atxfer")
        assert (sent.get("Channel"), sent.get("Exten"), sent.get("Context")) == (
            call.leg.one.channel,
            "102",
            "callpop-agents",
        )
        await expect(bob.locator(".pop-card")).to_have_count(0)  # consulting: no pop yet
        bob_leg = Snapshot(
            channel="PJSIP/102-000000ab",
            uniqueid=floor.ids.uniqueid(),
            linkedid=call.call_id,
            context="callpop-agents",
            exten="102",
        )
        floor.transfers.complete_attended(call.leg.one.channel, bob_leg)
        await expect(bob.locator(".pop-card")).to_have_count(1)
        await expect(bob.locator(".pop-card")).to_contain_text("Billing")
        await expect(card).to_contain_text("Wrap-up")
        await alice_ctx.close()
        await bob_ctx.close()
