"""The busy-queue loop of the demo, in a real Chromium: flood, estimate, callback, placed.

An agent logs in; the test phone floods the billing queue with virtual callers (the
agent is held on a virtual call, the queue's state reaches callpop over AMI); a
customer calls, asks about a charge, hears the estimated wait as callpop computed it
from the virtual queue and is offered a callback, accepts it on their own number; the
flood is stopped, the agent is free, callpop's placer Originates through the demo PBX:
the agent's phone rings and the desk pops "Callback requested at HH:MM after N s in
queue"; the agent answers, the customer's test phone rings, the customer answers and
the two are bridged.

Screenshots land in tests/artifacts/ (demo-flood-*).
"""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import expect

from callpop.callbacks.store import Callback, CallbackStore
from callpop.demo.compose import DemoServer
from callpop.demo.context import known_callers
from crm_adapter.sql.engine import create_engine
from tests.demo.conftest import SEED
from tests.screenpop.browser import chromium, login, new_page, shot

pytestmark = pytest.mark.browser


async def row_in_state(store: CallbackStore, state: str) -> Callback:
    """The one callback once the placer moved it to `state` (it writes after the events)."""
    async with asyncio.timeout(10):
        while True:
            [row] = await store.listing()
            if row.state == state:
                return row
            await asyncio.sleep(0.1)


async def test_a_flooded_queue_offers_a_callback_that_the_demo_places_to_the_agent(
    demo: DemoServer,
) -> None:
    assert demo.urls is not None
    urls = demo.urls
    caller = known_callers(SEED, 2)[1]  # a standard customer: the IVR's menus, not VIP
    async with chromium() as browser:
        desk_context, desk = await new_page(browser, "1366")
        await login(desk, urls.base, "alice", "alice")
        await expect(desk.locator("#demo-phone")).to_have_attribute("data-state", "idle")

        board_context, board = await new_page(browser, "1366")
        await login(board, urls.base, "sam", "sam")
        await expect(board.locator("#queues")).to_be_visible()

        phone_context, phone = await new_page(browser, "1366")
        await phone.goto(urls.phone)
        await expect(phone.locator("#conn-status")).to_have_class("conn conn-up")
        # the flood button's queue is the one the shipped flow offers callbacks for
        await expect(phone.locator("#flood-queue")).to_have_value("billing")
        estimate = phone.locator("#flood-estimate")
        await expect(estimate).to_contain_text("1 of 1 agents free")

        # 8 virtual callers, alice held on a virtual call: ceil(9 * 240 s / 1) = 36 min
        await phone.fill("#flood-callers", "8")
        await phone.click("#flood-btn")
        await expect(phone.locator("#flood-status")).to_contain_text(
            "8 virtual callers waiting in billing. Holding alice"
        )
        await expect(desk.locator("#demo-phone")).to_have_attribute("data-state", "talking")
        await expect(desk.locator("#demo-phone")).to_contain_text("On a call: Virtual caller")
        await expect(phone.locator("#flood-ewt")).to_have_text("36 min")
        await expect(estimate).to_contain_text("8 waiting, 0 of 1 agents free")
        await expect(estimate).to_contain_text("the IVR (main/billing_callback) offers a callback")
        await shot(phone, "demo-flood-1-flooded")
        await shot(desk, "demo-flood-1-desk-held")
        # the supervisors' wallboard: the virtual callers waiting, the estimate (read every 3 s)
        billing = board.locator('#queues tr[data-queue="billing"]')
        await expect(billing).to_contain_text("8", timeout=10_000)
        await expect(billing.locator(".ewt")).to_have_text("EWT 36 min", timeout=10_000)
        # alice, held on a virtual call (it pops nobody), is on a call, not ready: the
        # wallboard reads her device's state from the AMI member events
        alice_tile = board.locator(".agent-tile", has_text="alice")
        await expect(alice_tile).to_have_attribute("data-state", "on_call")
        await expect(board.locator("#t-ready")).to_have_text("0")

        # the next caller: billing (1), a question about a charge (2)
        await phone.click(f'.caller[data-number="{caller.number}"]')
        await phone.click("#call-btn")
        transcript = phone.locator("#transcript")
        now_playing = phone.locator("#np-text")
        await expect(now_playing).to_contain_text("For billing and payments, press 1")
        await phone.click('.key[data-key="1"]')
        await expect(now_playing).to_contain_text("For a question about a charge")
        await phone.click('.key[data-key="2"]')
        # 2160 s, rounded up to 5 minutes past ten (docs/dialplan.md, "wait")
        await expect(transcript).to_contain_text("The estimated hold time is currently")
        said = transcript.locator(".t-prompt .t-text", has_text=re.compile(r"^40$"))
        await expect(said).to_have_count(1)
        await expect(now_playing).to_contain_text("To be called back")
        await shot(phone, "demo-flood-2-estimate-and-offer")
        await phone.click('.key[data-key="1"]')
        await expect(transcript).to_contain_text("press the pound key")
        await phone.click('.key[data-key="#"]')
        await expect(transcript).to_contain_text("Your place in line is")
        await expect(phone.locator("#handset")).to_have_attribute("data-state", "ended")
        await shot(phone, "demo-flood-3-callback-booked")
        await expect(billing).to_contain_text("1 callback", timeout=10_000)
        await shot(board, "demo-flood-3-wallboard")

        engine = create_engine(f"sqlite:///{demo.options.database}")
        try:
            store = CallbackStore(engine)
            [booked] = await store.listing()
            assert (booked.queue, booked.number, booked.state) == (
                "billing",
                caller.number,
                "pending",
            )

            # the flood ends: alice is free, and callpop places the callback to her first
            await phone.click("#unflood-btn")
            await expect(phone.locator("#flood-status")).to_have_text("")
            await expect(estimate).to_contain_text("0 waiting")
            await expect(desk.locator("#demo-phone")).to_have_attribute("data-state", "ringing")
            card = desk.locator(".pop-card")
            await expect(card).to_have_attribute("data-state", "offered")
            await expect(desk.locator("#pop-callback")).to_have_text(
                re.compile(r"Callback requested at \d\d:\d\d( [AP]M)? after \d+ (s|min) in queue")
            )
            await shot(desk, "demo-flood-4-desk-callback-ringing")

            # alice answers: the customer's test phone rings, they answer, both are bridged
            await desk.click("#demo-phone-answer")
            await expect(phone.locator("#handset")).to_have_attribute("data-state", "incoming")
            await expect(phone.locator("#screen-line")).to_have_text(
                f"Calling you back on {caller.number}"
            )
            await shot(phone, "demo-flood-5-phone-rings")
            await phone.click("#call-btn")
            await expect(phone.locator("#handset")).to_have_attribute("data-state", "connected")
            await expect(transcript).to_contain_text(
                "you are talking to alice, who took your callback"
            )
            await expect(card).to_have_attribute("data-state", "accepted")
            await shot(phone, "demo-flood-6-phone-bridged")
            await shot(desk, "demo-flood-6-desk-bridged")
            placed = await row_in_state(store, "connected")
            assert placed.interface == "PJSIP/101"

            await phone.click("#hangup-btn")
            await expect(phone.locator("#handset")).to_have_attribute("data-state", "ended")
            await expect(desk.locator("#demo-phone")).to_have_attribute("data-state", "idle")
        finally:
            await engine.dispose()
        await phone_context.close()
        await desk_context.close()
        await board_context.close()
