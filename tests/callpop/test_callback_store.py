"""The callbacks table: a request keeps its place, once per call, and every move out of
a state is taken by one claimer only (docs/contracts.md, "Callbacks")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.callbacks.store import CallbackStore

AT = datetime(2026, 12, 6, 10, 42, tzinfo=UTC)


async def ask(store: CallbackStore, call_id: str, queue: str = "billing") -> int:
    return await store.request(
        call_id=call_id, queue=queue, number="5551234", caller_name="Ann Caller",
        waited_s=360.4, at=AT,
    )  # fmt: skip


async def test_positions_count_the_queues_waiting_callbacks_in_request_order(
    engine: AsyncEngine,
) -> None:
    store = CallbackStore(engine)
    assert [await ask(store, "c1"), await ask(store, "c2")] == [1, 2]
    assert await ask(store, "s1", queue="sales") == 1
    assert await ask(store, "c3") == 3


async def test_a_replayed_request_returns_its_position_and_stores_no_second_row(
    engine: AsyncEngine,
) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1")
    assert await ask(store, "c2") == 2
    assert await ask(store, "c2") == 2
    assert [cb.call_id for cb in await store.listing()] == ["c1", "c2"]


async def test_the_same_request_from_two_instances_at_once_is_one_row(
    engine: AsyncEngine,
) -> None:
    one, two = CallbackStore(engine), CallbackStore(engine)
    positions = await asyncio.gather(ask(one, "c1"), ask(two, "c1"))
    assert list(positions) == [1, 1]
    assert len(await one.listing()) == 1


async def test_a_request_is_stored_with_what_the_pop_tells(engine: AsyncEngine) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1")
    (stored,) = await store.listing()
    assert (stored.queue, stored.number, stored.caller_name) == ("billing", "5551234", "Ann Caller")
    assert (stored.waited_s, stored.requested_at, stored.state) == (360, AT, "pending")


@pytest.mark.parametrize("number", ["", "5", "555-1234", "5551234;hangup", "1" * 40, "++5551"])
async def test_a_number_that_cannot_be_dialled_is_refused(engine: AsyncEngine, number: str) -> None:
    with pytest.raises(ValueError, match="not a number to call back"):
        await CallbackStore(engine).request(
            call_id="c1", queue="billing", number=number, caller_name="", waited_s=0, at=AT
        )


async def test_a_caller_name_with_control_characters_is_stored_as_one_line(
    engine: AsyncEngine,
) -> None:
    store = CallbackStore(engine)
    await store.request(
        call_id="c1", queue="billing", number="5551234", caller_name="Ann\r\nEvil: 1",
        waited_s=0, at=AT,
    )  # fmt: skip
    assert (await store.listing())[0].caller_name == "Ann  Evil: 1"


async def test_of_two_instances_claiming_a_callback_only_one_gets_it(engine: AsyncEngine) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1")
    (head,) = await store.due("billing", limit=5)
    claims = await asyncio.gather(
        *(
            CallbackStore(engine).claim(
                head.id, instance=f"i{n}", interface="PJSIP/101", channel_id=f"cb-{n}"
            )
            for n in range(4)
        )
    )
    assert sorted(claims) == [False, False, False, True]
    assert await store.due("billing", limit=5) == []


async def test_a_callback_not_answered_waits_its_spacing_then_is_due_again(
    engine: AsyncEngine,
) -> None:
    now = [AT]
    store = CallbackStore(engine, clock=lambda: now[0])
    await ask(store, "c1")
    (head,) = await store.due("billing", limit=1)
    await store.claim(head.id, instance="i", interface="PJSIP/101", channel_id="cb-1")
    state = await store.not_answered(
        head.id, channel_id="cb-1", result="no-answer", max_attempts=3,
        retry_after=timedelta(seconds=120),
    )  # fmt: skip
    assert state == "pending"
    assert await store.due("billing", limit=1) == []
    now[0] = AT + timedelta(seconds=120)
    assert [cb.attempts for cb in await store.due("billing", limit=1)] == [1]


async def test_a_callback_gives_up_after_its_last_attempt(engine: AsyncEngine) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1")
    for attempt in (1, 2):
        (head,) = await store.due("billing", limit=1)
        await store.claim(head.id, instance="i", interface="PJSIP/101", channel_id=f"cb-{attempt}")
        state = await store.not_answered(
            head.id, channel_id=f"cb-{attempt}", result="no-answer", max_attempts=2,
            retry_after=timedelta(0),
        )  # fmt: skip
    assert state == "failed"
    assert [(cb.state, cb.attempts) for cb in await store.listing()] == [("failed", 2)]


async def test_an_attempt_lost_on_the_agents_side_is_given_back(engine: AsyncEngine) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1")
    (head,) = await store.due("billing", limit=1)
    await store.claim(head.id, instance="i", interface="PJSIP/101", channel_id="cb-1")
    await store.not_answered(
        head.id, channel_id="cb-1", result="agent-no-answer", max_attempts=1,
        retry_after=timedelta(0), counts=False,
    )  # fmt: skip
    assert [(cb.state, cb.attempts) for cb in await store.listing()] == [("pending", 0)]


async def test_a_stale_attempts_outcome_moves_nothing(engine: AsyncEngine) -> None:
    store = CallbackStore(engine)
    await ask(store, "c1")
    (head,) = await store.due("billing", limit=1)
    await store.claim(head.id, instance="i", interface="PJSIP/101", channel_id="cb-2")
    assert await store.connected(head.id, channel_id="cb-1") is False
    assert (await store.listing())[0].state == "placing"


async def test_served_callbacks_leave_the_count_of_those_waiting(engine: AsyncEngine) -> None:
    store = CallbackStore(engine)
    for call in ("c1", "c2", "c3"):
        await ask(store, call)
    (head,) = await store.due("billing", limit=1)
    await store.claim(head.id, instance="i", interface="PJSIP/101", channel_id="cb-1")
    await store.connected(head.id, channel_id="cb-1")
    assert await store.waiting_counts() == {"billing": 2}
    assert await ask(store, "c4") == 3
