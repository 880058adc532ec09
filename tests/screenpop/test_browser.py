"""The panel in a real Chromium: a call pops while it rings, turns live, survives a
reload, and the disposition the agent saves lands in the CRM store. Hostile caller
data stays text. Two agents see only their own pops; the supervisor sees both.

Screenshots land in tests/artifacts/ at 1366x768 and 1920x1080.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from redis.asyncio import Redis

from crm_adapter.port import Customer, CustomerDraft, Interaction
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from screenpop.redis_bus import RedisBus
from tests.ports import free_port as unused_port
from tests.redis_server import RedisServer
from tests.screenpop.browser import chromium, login, new_page, shot
from tests.screenpop.conftest import PASSWORD, Desk, make_desk, now

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)>"
PATH = [
    ("main_menu", "menu", "Main menu", ["1"]),
    ("billing_menu", "menu", "Billing and payments", ["1"]),
    ("account_entry", "input", "Account number", ["******34"]),
    ("billing_queue", "transfer", "Payment or balance", []),
]


async def seed_customer(
    desk: Desk, name: str = "Ann Example", phone: str = "+15551230100", tier: str = "vip"
) -> Customer:
    customer = await desk.crm.create_customer(
        CustomerDraft(
            name=name,
            phones=(phone,),
            account=f"AC-{phone[-6:]}",
            tier=tier,
            language="en-US",
            email=f"{phone[1:]}@example.test",
            notes="Prefers email follow-ups.",
        )
    )
    await desk.crm.add_case(
        customer.id, "Double charge on October invoice", opened=now() - timedelta(days=3)
    )
    await desk.crm.add_case(
        customer.id, "Router replacement", status="pending", opened=now() - timedelta(days=12)
    )
    await desk.crm.log_interaction(
        Interaction(
            call_id="1763000000.1",
            started=now() - timedelta(days=3),
            customer_id=customer.id,
            agent="bob",
            journey="Main menu > Billing and payments",
            disposition="follow_up",
            notes="Promised a refund within 5 days.",
            ended=now() - timedelta(days=3),
        )
    )
    return customer


async def test_a_call_pops_turns_live_survives_a_reload_and_its_disposition_lands_in_the_crm(
    desk: Desk,
) -> None:
    customer = await seed_customer(desk)
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        await page.goto(f"{desk.url}/agent")
        await expect(page).to_have_url(f"{desk.url}/login?next=/agent")
        await page.fill("input[name=name]", "alice")
        await page.fill("input[name=password]", "wrong password")
        await page.click("button[type=submit]")
        await expect(page.locator("#login-error")).to_have_text("Wrong name or password.")
        await shot(page, "login-error-1366")
        await login(page, desk.url, "alice", PASSWORD)
        await shot(page, "agent-idle-1366")

        call = desk.next_call_id()
        await desk.ivr(
            call,
            number="+15551230100",
            name="ANN EXAMPLE",
            steps=PATH,
            customer_id=customer.id,
            verified=True,
            tier="vip",
        )
        await desk.ring(call, "alice")
        card = page.locator(f'.pop-card[data-call-id="{call}"]')
        await expect(card).to_have_attribute("data-state", "offered")
        await expect(page.locator("#pop-caller-name")).to_have_text("Ann Example")
        await expect(page.locator("#ivr-path")).to_contain_text("Billing and payments")
        await expect(page.locator("#ivr-path")).to_contain_text("******34")
        await expect(page.locator("#open-cases")).to_contain_text(
            "Double charge on October invoice"
        )
        await expect(page.locator("#script")).to_contain_text("Greet the customer by name.")
        await expect(page.locator("#open-in-crm")).to_have_attribute(
            "href", f"https://crm.example.test/customers/{customer.id}"
        )
        await shot(page, "agent-ringing-1366")

        await desk.answer(call, "alice")
        await expect(card).to_have_attribute("data-state", "accepted")
        await page.fill("textarea[name=notes]", "Refund confirmed, 5 days.")
        await expect(page.locator("#notes-hint")).to_have_text("saved")
        await shot(page, "agent-live-1366")

        await page.reload()
        await page.wait_for_selector("#conn-status.conn-up")
        await expect(page.locator(f'.pop-card[data-call-id="{call}"]')).to_have_attribute(
            "data-state", "accepted"
        )
        # the notes were autosaved over the socket before the reload
        await expect(page.locator("textarea[name=notes]")).to_have_value(
            "Refund confirmed, 5 days."
        )

        await desk.complete(call, "alice")
        await expect(page.locator(f'.pop-card[data-call-id="{call}"]')).to_have_attribute(
            "data-state", "wrapup"
        )
        await page.select_option("select[name=disposition]", "payment_taken")
        await shot(page, "agent-wrapup-1366")
        await page.click("#save-disposition")
        await expect(page.locator("#idle")).to_be_visible()
        await expect(page.locator("#today-calls")).to_contain_text("Payment taken")
        await shot(page, "agent-after-call-1366")

        # the same desk at 1920x1080, with a call ringing
        big_context, big = await new_page(browser, "1920")
        await big.goto(f"{desk.url}/login")
        await shot(big, "login-1920")
        await login(big, desk.url, "alice", PASSWORD)
        second = desk.next_call_id()
        await desk.ivr(
            second,
            number="+15551230100",
            steps=PATH,
            customer_id=customer.id,
            verified=True,
            tier="vip",
        )
        await desk.ring(second, "alice")
        await expect(big.locator(f'.pop-card[data-call-id="{second}"]')).to_be_visible()
        await desk.answer(second, "alice")
        await expect(big.locator(f'.pop-card[data-call-id="{second}"]')).to_have_attribute(
            "data-state", "accepted"
        )
        await expect(big.locator("#pop-caller-name")).to_have_text("Ann Example")
        await shot(big, "agent-live-1920")
        await big_context.close()
        await context.close()

    stored = await desk.crm.get_interaction(call)
    assert (stored.disposition, stored.notes, stored.agent, stored.customer_id) == (
        "payment_taken",
        "Refund confirmed, 5 days.",
        "alice",
        customer.id,
    )


async def test_hostile_caller_and_crm_data_render_as_text(desk: Desk) -> None:
    customer = await seed_customer(desk, name=HOSTILE, phone="+15551230300", tier=HOSTILE)
    await desk.crm.add_case(customer.id, HOSTILE)
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        await login(page, desk.url, "alice", PASSWORD)
        call = desk.next_call_id()
        await desk.ivr(
            call,
            number="+15551230300",
            name=HOSTILE,
            customer_id=customer.id,
            steps=[("main_menu", "menu", HOSTILE, ["1"])],
        )
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        card = page.locator(f'.pop-card[data-call-id="{call}"]')
        await expect(card).to_have_attribute("data-state", "accepted")
        await expect(page.locator("#pop-caller-name")).to_have_text(HOSTILE)
        await expect(page.locator("#open-cases")).to_contain_text(HOSTILE)
        await expect(page.locator("#ivr-path")).to_contain_text(HOSTILE)
        await expect(page.locator("#customer-card")).to_contain_text(f"CRM id{customer.id}")
        assert await page.locator(".pop-card img, #pop-tabs img").count() == 0
        await shot(page, "agent-hostile-1366")
        await context.close()
    assert dialogs == []


async def test_two_agents_see_only_their_own_pops_and_the_supervisor_sees_both(desk: Desk) -> None:
    ann = await seed_customer(desk)
    bert = await seed_customer(desk, name="Bert Sample", phone="+15551230400", tier="gold")
    async with chromium() as browser:
        alice_ctx, alice = await new_page(browser, "1366")
        bob_ctx, bob = await new_page(browser, "1366")
        sue_ctx, sue = await new_page(browser, "1366")
        await login(alice, desk.url, "alice", PASSWORD)
        await login(bob, desk.url, "bob", PASSWORD)
        await login(sue, desk.url, "sue", PASSWORD)
        await expect(sue).to_have_url(f"{desk.url}/supervisor")

        for_alice, for_bob = desk.next_call_id(), desk.next_call_id()
        await desk.ivr(for_alice, number="+15551230100", steps=PATH, customer_id=ann.id)
        await desk.ivr(
            for_bob,
            number="+15551230400",
            steps=PATH[:2],
            customer_id=bert.id,
            queue="sales",
            topic="sales",
        )
        waiting = desk.next_call_id()
        await desk.ivr(waiting, number="+15551230500", steps=PATH[:1], queue="sales")
        in_ivr = desk.next_call_id()
        await desk.publish(
            "ivr.started",
            in_ivr,
            flow="main",
            caller={"number": "+15551230600", "name": ""},
            dnis="7000",
        )
        await desk.publish("ivr.node", in_ivr, node="billing_menu", kind="menu")
        await desk.ring(for_alice, "alice")
        await desk.answer(for_alice, "alice")
        await desk.ring(for_bob, "bob", queue="sales")

        await expect(alice.locator(f'.pop-card[data-call-id="{for_alice}"]')).to_be_visible()
        await expect(bob.locator(f'.pop-card[data-call-id="{for_bob}"]')).to_be_visible()
        await expect(alice.locator("#pop-caller-name")).to_have_text("Ann Example")
        await expect(bob.locator("#pop-caller-name")).to_have_text("Bert Sample")
        assert await alice.locator(f'[data-call-id="{for_bob}"]').count() == 0
        assert await bob.locator(f'[data-call-id="{for_alice}"]').count() == 0

        alice_id, bob_id = desk.accounts["alice"].id, desk.accounts["bob"].id
        await expect(sue.locator(f'.agent-tile[data-agent-id="{alice_id}"]')).to_have_attribute(
            "data-state", "on_call"
        )
        await expect(sue.locator(f'.agent-tile[data-agent-id="{bob_id}"]')).to_have_attribute(
            "data-state", "ringing"
        )
        await expect(sue.locator('#queues tr[data-queue="sales"]')).to_contain_text("1")
        await expect(sue.locator('#ivr-nodes [data-node="billing_menu"]')).to_contain_text("1")
        await shot(sue, "wallboard-1366")
        await shot(bob, "agent-ringing-bob-1366")
        big_ctx, big = await new_page(browser, "1920")
        await login(big, desk.url, "sue", PASSWORD)
        await expect(big.locator(f'.agent-tile[data-agent-id="{bob_id}"]')).to_have_attribute(
            "data-state", "ringing"
        )
        await shot(big, "wallboard-1920")
        for context in (alice_ctx, bob_ctx, sue_ctx, big_ctx):
            await context.close()


async def test_the_wallboard_shows_the_dialplan_version_and_calls_still_on_the_old_one(
    desk: Desk,
) -> None:
    async with chromium() as browser:
        context, sue = await new_page(browser, "1366")
        await login(sue, desk.url, "sue", PASSWORD)
        await expect(sue).to_have_url(f"{desk.url}/supervisor")
        await desk.publish(
            "dialplan.reloaded",
            "",
            instance="a",
            hash="3f2a9c1b7d4e",
            loaded_at="2026-11-23T09:00:00.000Z",
            cause="start",
            previous=None,
        )
        old = desk.next_call_id()
        await desk.publish(
            "ivr.started",
            old,
            flow="main",
            version={"hash": "3f2a9c1b7d4e"},
            caller={"number": "+15551230600", "name": ""},
            dnis="7000",
        )
        await desk.publish(
            "dialplan.reloaded",
            "",
            instance="a",
            hash="9c41d07e2a5b",
            loaded_at="2026-11-23T10:00:00.000Z",
            cause="control",
            previous="3f2a9c1b7d4e",
        )
        for _ in range(2):
            await desk.publish(
                "ivr.started",
                desk.next_call_id(),
                flow="main",
                version={"hash": "9c41d07e2a5b"},
                caller={"number": "+15551230601", "name": ""},
                dnis="7000",
            )
        await expect(sue.locator("#dialplan-version")).to_have_text(
            "dialplan 9c41d07e2a5b · calls on 3f2a9c1b7d4e: 1, 9c41d07e2a5b: 2"
        )
        await shot(sue, "wallboard-dialplan-version-1366")
        await context.close()


async def test_several_customers_on_one_number_get_a_chooser(desk: Desk) -> None:
    await desk.crm.create_customer(CustomerDraft(name="Chris Home", phones=("+15551230700",)))
    office = await desk.crm.create_customer(
        CustomerDraft(name="Chris Office", phones=("+15551230700",))
    )
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        await login(page, desk.url, "alice", PASSWORD)
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551230700", name="CHRIS", steps=PATH[:2])
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        chooser = page.locator("#customer-chooser")
        await expect(chooser).to_contain_text("Chris Office")
        await shot(page, "agent-chooser-1366")
        await chooser.locator("li", has_text="Chris Office").get_by_role("button").click()
        await expect(page.locator("#pop-caller-name")).to_have_text("Chris Office")
        stored = await desk.crm.get_interaction(call)
        assert (stored.customer_id, stored.agent) == (office.id, "alice")
        await context.close()


async def test_an_unknown_caller_gets_a_prefilled_new_customer_form(desk: Desk) -> None:
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        await login(page, desk.url, "alice", PASSWORD)
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551230800", name="DANA NEWCOMER", steps=PATH[:2])
        await desk.ring(call, "alice")
        form = page.locator("#new-customer-form")
        await expect(form.locator("input[name=phone]")).to_have_value("+15551230800")
        await expect(form.locator("input[name=name]")).to_have_value("DANA NEWCOMER")
        await shot(page, "agent-unknown-caller-1366")
        await context.close()


async def page_text(page: Page, selector: str) -> str:
    return await page.locator(selector).inner_text()


async def test_the_panel_gets_its_live_call_back_after_the_server_restarts(tmp_path: Path) -> None:
    """The page stays open while the server goes away and another takes its port on the
    same database: the page reconnects, the live pop and its notes are back, and the
    disposition of the call is saved."""
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    await upgrade(engine)
    port = unused_port()
    try:
        async with chromium() as browser:
            context, page = await new_page(browser, "1366")
            async for first in make_desk(tmp_path, engine=engine, port=port):
                await login(page, first.url, "alice", PASSWORD)
                call = first.next_call_id()
                await first.ivr(call, number="+15551230200", name="RESTART CALLER")
                await first.ring(call, "alice")
                await first.answer(call, "alice")
                card = page.locator(f'.pop-card[data-call-id="{call}"]')
                await expect(card).to_have_attribute("data-state", "accepted")
                await page.fill("textarea[name=notes]", "Wants the March fee back.")
                await expect(page.locator("#notes-hint")).to_have_text("saved")
                await first.settled()
            await expect(page.locator("#conn-status.conn-up")).to_have_count(0)
            await shot(page, "agent-server-gone-1366")
            async for second in make_desk(tmp_path, engine=engine, port=port):
                await page.wait_for_selector("#conn-status.conn-up", timeout=30_000)
                card = page.locator(f'.pop-card[data-call-id="{call}"]')
                await expect(card).to_have_attribute("data-state", "accepted")
                await expect(page.locator("textarea[name=notes]")).to_have_value(
                    "Wants the March fee back."
                )
                await expect(page.locator("#pop-caller-number")).to_contain_text("5551230200")
                await shot(page, "agent-after-restart-1366")
                await second.complete(call, "alice")
                await expect(card).to_have_attribute("data-state", "wrapup")
                await page.select_option("select[name=disposition]", "resolved")
                await page.click("#save-disposition")
                await expect(page.locator("#idle")).to_be_visible()
                stored = await second.crm.get_interaction(call)
                assert (stored.disposition, stored.notes, stored.agent) == (
                    "resolved",
                    "Wants the March fee back.",
                    "alice",
                )
            await context.close()
    finally:
        await engine.dispose()


@pytest.mark.redis
async def test_redis_down_shows_reconnecting_and_the_pops_of_the_outage_follow(
    tmp_path: Path,
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    bus = RedisBus(Redis.from_url(redis.url, socket_connect_timeout=0.5), block_ms=200, retry_s=0.1)
    try:
        async for desk in make_desk(tmp_path, bus=bus):
            async with chromium() as browser:
                context, page = await new_page(browser, "1366")
                await login(page, desk.url, "alice", PASSWORD)
                banner = page.locator("#bus-banner")
                await expect(banner).to_have_count(0)

                redis.stop()
                await expect(banner).to_be_visible(timeout=10_000)
                await expect(banner).to_contain_text("Reconnecting")
                await shot(page, "agent-bus-reconnecting-1366")
                call = desk.next_call_id()  # rings while Redis is away
                await desk.ivr(call, number="+15551230100", name="ANN EXAMPLE", steps=PATH)
                await desk.ring(call, "alice")

                redis.start()
                await expect(banner).to_have_count(0, timeout=10_000)
                card = page.locator(f'.pop-card[data-call-id="{call}"]')
                await expect(card).to_have_attribute("data-state", "offered", timeout=10_000)
                await expect(page.locator(".pop-card")).to_have_count(1)
                await context.close()
    finally:
        await bus.aclose()
        redis.stop()


async def test_an_account_of_another_customer_than_the_caller_ids_is_a_warning_on_the_card(
    desk: Desk,
) -> None:
    ann = await seed_customer(desk)
    await seed_customer(desk, name="Ben Other", phone="+15551230900", tier="standard")
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        await login(page, desk.url, "alice", PASSWORD)
        call = desk.next_call_id()
        await desk.ivr(
            call,
            number="+15551230900",
            name="BEN OTHER",
            steps=PATH,
            customer_id=ann.id,
            identity="account",
            identity_warning="account-not-caller",
        )
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        await expect(page.locator("#identity-warning")).to_contain_text(
            "not the caller ID's customer"
        )
        await expect(page.locator("#pop-identity")).to_have_text("Not verified")
        await shot(page, "agent-identity-warning-1366")
        await context.close()


async def test_a_caller_verified_by_pin_shows_it_on_the_card(desk: Desk) -> None:
    ann = await seed_customer(desk, phone="+15551231000")
    async with chromium() as browser:
        context, page = await new_page(browser, "1366")
        await login(page, desk.url, "alice", PASSWORD)
        call = desk.next_call_id()
        await desk.ivr(
            call,
            number="+15551231000",
            name="ANN EXAMPLE",
            steps=[*PATH[:3], ("check_pin", "pin", "PIN", ["****"]), PATH[3]],
            customer_id=ann.id,
            identity="pin",
            verified=True,
        )
        await desk.ring(call, "alice")
        await desk.answer(call, "alice")
        badge = page.locator("#pop-identity")
        await expect(badge).to_have_text("✓ Verified by PIN")
        await expect(badge).to_have_class("badge badge-ok")
        await expect(badge).to_have_attribute("title", "Identified in the IVR by: pin")
        await expect(page.locator("#identity-warning")).to_have_count(0)
        await expect(page.get_by_text("PIN", exact=True).first).to_be_visible()
        assert "****" in await page.content()
        await shot(page, "agent-verified-by-pin-1366")
        await context.close()
