"""The customer an agent settles on in the pop is written to the call's row at once:
picked among the customers sharing the number, or created for an unknown caller. The
IVR's own identification stays beside it, and a journey written again keeps it."""

from __future__ import annotations

from typing import Any

from crm_adapter.port import Customer, CustomerDraft
from ivr.journey import Journey
from tests.screenpop.conftest import Desk
from tests.screenpop.test_web import live_call, post_json
from tests.screenpop.wsclient import open_tab


def payload_match(frame: dict[str, Any]) -> Any:
    return frame.get("pop", {}).get("payload", {}).get("match")


async def shared_number(desk: Desk, number: str) -> tuple[Customer, Customer]:
    """Two customers on `number`, as a household shares a line."""
    first, second = [
        await desk.crm.create_customer(CustomerDraft(name=name, phones=(number,)))
        for name in ("First Sharer", "Second Sharer")
    ]
    return first, second


async def alice_picks(desk: Desk, number: str, customer: Customer, **ivr: Any) -> str:
    """A call from `number` pops for alice with several candidates; she picks `customer`."""
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        call = await live_call(desk, number=number, **ivr)
        await tab.until(lambda f: payload_match(f) == "several")
        status, _ = await post_json(
            alice,
            f"{desk.url}/api/v1/calls/{call}/customer",
            {"customer_id": customer.id},
            await desk.csrf(alice),
        )
        assert status == 200
    return call


async def test_the_candidate_an_agent_picks_is_written_to_the_calls_row(desk: Desk) -> None:
    first, second = await shared_number(desk, "+15551230500")
    call = await alice_picks(desk, "+15551230500", second)
    row = await desk.store.call(call)
    assert row is not None
    assert (row["chosen_customer_id"], row["chosen_by"]) == (second.id, "alice")
    assert row["chosen_at"] is not None
    assert row["customer_id"] is None  # the IVR identified nobody: the number is shared
    assert first.id != second.id
    interaction = await desk.crm.get_interaction(call)
    assert (interaction.customer_id, interaction.agent) == (second.id, "alice")


async def test_a_journey_written_again_keeps_the_agents_choice(desk: Desk) -> None:
    _, second = await shared_number(desk, "+15551230600")
    call = await alice_picks(desk, "+15551230600", second)
    stored = await desk.store.journey(call)
    assert stored is not None
    again = Journey(
        call_id=call,
        flow="main",
        caller_number="+15551230600",
        caller_name="",
        dnis="7000",
        started_at=stored["started_at"],
    )
    await desk.journeys.save(again)  # e.g. the runner storing an undelivered outcome
    row = await desk.store.call(call)
    assert row is not None and row["chosen_customer_id"] == second.id


async def test_a_call_that_skipped_the_ivr_gets_a_row_holding_the_choice(desk: Desk) -> None:
    _, second = await shared_number(desk, "+15551230800")
    call = await alice_picks(desk, "+15551230800", second, save_journey=False)
    row = await desk.store.call(call)
    assert row is not None
    assert (row["caller"], row["chosen_customer_id"]) == ("+15551230800", second.id)


async def test_a_customer_created_for_an_unknown_caller_is_written_to_the_calls_row(
    desk: Desk,
) -> None:
    async with await desk.logged_in("alice") as alice:
        tab = await open_tab(alice, desk.url)
        call = await live_call(desk, number="+15551230700")
        await tab.until(lambda f: payload_match(f) == "none")
        status, body = await post_json(
            alice,
            f"{desk.url}/api/v1/customers",
            {"call_id": call, "name": "New Caller", "phone": "+15551230700"},
            await desk.csrf(alice),
        )
        assert status == 201
    row = await desk.store.call(call)
    assert row is not None
    assert (row["chosen_customer_id"], row["chosen_by"]) == (body["customer_id"], "alice")
