"""Transfers from the agent's panel, in Chromium, end to end through the AMI simulator:
the panel's request becomes `BlindTransfer` on the agent's own channel, Asterisk's
events come back through the AMI listener and the triggers, and the call re-pops at the
new agent with the IVR path and the first agent's notes. Refusals are shown in words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from callpop.ami.controls import AmiControls, panel_controls
from callpop.ami.listener import AMIListener
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import Ids, QueueCall, Snapshot, Writer
from callpop.pbx_sim.ami_transfers import Transfers
from ivr import variables as V
from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, Desk, make_desk

PHONES = {("102", "callpop-agents"): "PJSIP/102"}  # bob's extension in the emitted dialplan


@dataclass
class Floor:
    desk: Desk
    pbx: AMIServer
    transfers: Transfers
    ids: Ids


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    async with AMIServer(username="callpop", secret="pw") as pbx:
        transfers = Transfers(pbx, lambda exten, context: PHONES.get((exten, context)))
        listener: list[AMIListener] = []
        controls = AmiControls(lambda: listener[0].client if listener else None)
        originate, agent_status, transfer = panel_controls(controls)
        async for desk in make_desk(
            tmp_path, originate=originate, agent_status=agent_status, transfer=transfer
        ):
            ami = AMIListener("127.0.0.1", pbx.port, "callpop", "pw", desk.bus.publish)
            listener.append(ami)
            await ami.start()
            try:
                async with asyncio.timeout(5):
                    await ami.client.wait_connected()
                yield Floor(desk, pbx, transfers, Ids("1795389698", 40))
            finally:
                await ami.stop()


async def queue_call_to_alice(floor: Floor) -> QueueCall:
    """A caller through the IVR (billing menu), into the queue, answered by alice's
    phone PJSIP/101: the AMI events Asterisk sends for it."""
    desk, ids = floor.desk, floor.ids
    call_id = f"{ids.epoch}.{ids.next_uid}"
    await desk.ivr(
        call_id,
        number="+15551234567",
        steps=[("menu", "menu", "Billing", ["1"])],
    )
    caller = Snapshot(
        channel=f"PJSIP/trunk-{ids.suffix()}",
        uniqueid=ids.uniqueid(),
        linkedid=call_id,
        context="callpop-route",
        exten="queue",
        caller_num="+15551234567",
        caller_name="Jane Caller",
        variables=((V.CALL_ID, call_id),),
    )
    call = QueueCall(caller, "billing", "PJSIP/101", "alice", ids, Writer())
    floor.pbx.emit(call.joined() + call.agent_called() + call.answered())
    floor.transfers.add(call)
    return call


async def alice_takes_the_call(floor: Floor, page: Page, notes: str) -> None:
    await expect(page.locator(".pop-card")).to_have_count(1)
    await expect(page.locator("#transfer-button")).to_be_enabled()
    await page.fill("#disposition-form textarea[name=notes]", notes)
    await expect(page.locator("#notes-hint")).to_have_text("saved")


async def test_a_blind_transfer_from_alice_re_pops_at_bob_with_her_notes(floor: Floor) -> None:
    async with chromium() as browser:
        alice_ctx, alice = await new_page(browser)
        bob_ctx, bob = await new_page(browser)
        await login(alice, floor.desk.url, "alice", PASSWORD)
        await login(bob, floor.desk.url, "bob", PASSWORD)
        call = await queue_call_to_alice(floor)
        await alice_takes_the_call(floor, alice, "Disputes the March invoice; wants a refund.")

        await alice.select_option("#transfer-form select[name=kind]", "agent")
        await alice.fill("#transfer-form input[name=target]", "bob")
        await alice.click("#transfer-button")
        await expect(alice.locator("#transfer-status")).to_have_text("Transferred to bob.")

        (sent,) = await floor.pbx.wait_action("BlindTransfer")
        assert (sent.get("Channel"), sent.get("Context"), sent.get("Exten")) == (
            call.leg.one.channel,  # alice's own leg, as AgentConnect named it
            "callpop-agents",
            "102",
        )
        card = bob.locator(".pop-card")
        await expect(card).to_have_count(1)
        await expect(card).to_contain_text("Transferred call.")
        await expect(card).to_contain_text("Disputes the March invoice; wants a refund.")
        await expect(card).to_contain_text("Billing")  # the IVR path came along
        await expect(bob.locator("#handoff")).to_contain_text("Notes from alice")
        await shot(bob, "transfer-blind-bob-1366")
        await shot(alice, "transfer-blind-alice-1366")
        await alice_ctx.close()
        await bob_ctx.close()


async def test_an_attended_transfer_pops_bob_when_alice_hangs_up_on_the_consultation(
    floor: Floor,
) -> None:
    async with chromium() as browser:
        alice_ctx, alice = await new_page(browser)
        bob_ctx, bob = await new_page(browser)
        await login(alice, floor.desk.url, "alice", PASSWORD)
        await login(bob, floor.desk.url, "bob", PASSWORD)
        call = await queue_call_to_alice(floor)
        await alice_takes_the_call(floor, alice, "Needs a second-level answer on roaming.")
        await alice.select_option("#transfer-form select[name=mode]", "attended")
        await alice.fill("#transfer-form input[name=target]", "bob")
        await alice.click("#transfer-button")
        await expect(alice.locator("#transfer-status")).to_have_text(
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
            channel="PJSIP/102-000000aa",
            uniqueid=floor.ids.uniqueid(),
            linkedid=call.call_id,
            context="callpop-agents",
            exten="102",
        )
        floor.transfers.complete_attended(call.leg.one.channel, bob_leg)
        card = bob.locator(".pop-card")
        await expect(card).to_have_count(1)
        await expect(card).to_contain_text("Needs a second-level answer on roaming.")
        await expect(bob.locator("#transfer-call")).to_have_text("+15551234567")
        await shot(bob, "transfer-attended-bob-1366")
        await alice_ctx.close()
        await bob_ctx.close()


async def test_a_transfer_of_a_channel_asterisk_does_not_know_is_shown_to_the_agent(
    floor: Floor,
) -> None:
    async with chromium() as browser:
        context, alice = await new_page(browser)
        await login(alice, floor.desk.url, "alice", PASSWORD)
        call = await queue_call_to_alice(floor)
        await alice_takes_the_call(floor, alice, "Wants a supervisor.")
        floor.transfers.calls.remove(call)  # the leg is gone on the PBX's side
        await alice.fill("#transfer-form input[name=target]", "bob")
        await alice.click("#transfer-button")
        status = alice.locator("#transfer-status")
        await expect(status).to_have_text(
            "transferring the call to bob was refused by Asterisk: Channel specified does not exist"
        )
        await expect(status).to_have_class("form-status small error")
        await shot(alice, "transfer-refused-1366")
        await context.close()


async def test_a_transfer_asterisk_forbids_this_user_is_shown_as_permission_denied(
    floor: Floor,
) -> None:
    floor.pbx.responders["BlindTransfer"] = lambda action: [
        [("Response", "Error"), ("Message", "Permission denied")]
    ]
    async with await floor.desk.logged_in("alice") as alice:
        call = await queue_call_to_alice(floor)
        await floor.desk.settled()
        async with alice.post(
            f"{floor.desk.url}/api/v1/calls/{call.call_id}/transfer",
            json={"mode": "blind", "kind": "queue", "target": "billing"},
            headers={"X-CSRF-Token": await floor.desk.csrf(alice)},
        ) as response:
            assert response.status == 502
            assert (await response.json())["error"] == (
                "transferring the call to billing was refused by Asterisk: Permission denied"
            )
