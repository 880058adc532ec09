"""Pop payloads: what the IVR already knew goes out with the ring; a slow CRM delays
only the details (a `pop.updated` follows), a dead one leaves the pop usable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm_adapter.port import CrmUnavailable, Customer, CustomerDraft, InMemoryCrm
from screenpop.keys import PAYLOADS
from tests.screenpop.conftest import Desk, make_desk
from tests.screenpop.wsclient import open_tab


class GatedCrm(InMemoryCrm):
    """The port's in-memory CRM, whose phone lookups wait until the gate opens:
    a CRM that answers, but late."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.asked = asyncio.Event()
        self.lookups = 0

    async def find_by_phone(self, phone: str) -> list[Customer]:
        self.lookups += 1
        self.asked.set()
        await self.gate.wait()
        return await super().find_by_phone(phone)


@pytest.fixture
async def slow(tmp_path: Path) -> AsyncIterator[tuple[Desk, GatedCrm]]:
    crm = GatedCrm()
    crm.add_customer(CustomerDraft(name="Sam Slow", phones=("+15551232000",), tier="gold"))
    async for desk in make_desk(tmp_path, crm=crm):
        yield desk, crm


async def test_a_slow_crm_does_not_hold_the_pop_back(slow: tuple[Desk, GatedCrm]) -> None:
    desk, crm = slow
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        call = desk.next_call_id()
        await desk.ivr(call, number="+15551232000", name="SAM",
                       steps=[("main_menu", "menu", "Main menu", ["2"])], tier="gold")
        await desk.ring(call, "alice")
        offered = await tab.until_type("pop.offered", call)
        payload = offered["pop"]["payload"]
        assert payload["status"] == "loading" and payload["match"] == "pending"
        # what the IVR knew is there already
        assert payload["caller"] == {"number": "+15551232000", "name": "SAM"}
        assert payload["tier"] == "gold" and payload["topic"] == "billing"
        assert [s["node"] for s in payload["ivr"]["steps"]] == ["main_menu"]
        crm.gate.set()
        updated = await tab.until_type("pop.updated", call)
        assert updated["pop"]["payload"]["customer"]["name"] == "Sam Slow"
        assert updated["pop"]["payload"]["status"] == "complete"


async def test_the_lookup_starts_while_the_caller_waits_in_the_queue(
        slow: tuple[Desk, GatedCrm]) -> None:
    desk, crm = slow
    call = desk.next_call_id()
    await desk.ivr(call, number="+15551232000")
    # the IVR handed the call to a queue: the prefetch is under way before any ring
    async with asyncio.timeout(5):
        await crm.asked.wait()
    crm.gate.set()
    await desk.server.app[PAYLOADS].complete(call)
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        await tab.until_type("welcome")
        await desk.ring(call, "alice")
        offered = await tab.until_type("pop.offered", call)
        assert offered["pop"]["payload"]["customer"]["name"] == "Sam Slow"
        assert crm.lookups == 1  # no second CRM round trip on ring


async def test_a_crm_outage_leaves_a_usable_pop(tmp_path: Path) -> None:
    crm = InMemoryCrm()
    crm.failure = CrmUnavailable("down for maintenance")
    async for desk in make_desk(tmp_path, crm=crm):
        async with await desk.logged_in("alice") as alice:
            tab = await open_tab(alice, desk.url)
            await desk.ivr("c-outage", number="+15551232001",
                           steps=[("main_menu", "menu", "Main menu", [])])
            await desk.ring("c-outage", "alice")
            frame = await tab.until(lambda f: f.get("pop", {}).get("call_id") == "c-outage"
                                    and f["pop"]["payload"]["status"] != "loading")
            payload = frame["pop"]["payload"]
            assert payload["status"] == "partial" and payload["match"] == "unknown"
            assert "CRM" in payload["crm_error"]
            assert payload["caller"]["number"] == "+15551232001"
            assert payload["ivr"]["steps"][0]["label"] == "Main menu"
