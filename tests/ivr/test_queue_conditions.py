"""Branches on queue state: `queue.Q.X` names, read through the services each time the
branch is entered (docs/contracts.md, "Queue state")."""

from __future__ import annotations

import pytest

from ivr.conditions import ConditionError, parse

from .session_driver import Driver, make_flow, queue

BUSY = {
    "check": {
        "type": "branch",
        "cases": [
            {"when": "queue.billing.available == 0", "goto": "busy"},
            {"when": "queue.sales.ewt_s > 600", "goto": "sales_busy"},
        ],
        "default": "billing",
    },
    "busy": queue("overflow"),
    "sales_busy": queue("sales_overflow"),
    "billing": queue("billing"),
}


def test_a_branch_on_queue_state_asks_for_every_queue_it_names_once() -> None:
    call = Driver(make_flow(BUSY))
    call.start()
    assert call.queue_lookup.queues == ("billing", "sales")


def test_the_looked_up_state_decides_the_branch() -> None:
    call = Driver(make_flow(BUSY))
    call.start()
    call.queues({"billing": {"available": 0}, "sales": {"ewt_s": 100}})
    assert call.transfer.target == "overflow"


def test_a_queue_whose_state_is_unknown_reads_null_and_its_cases_do_not_hold() -> None:
    call = Driver(make_flow(BUSY))
    call.start()
    call.queues({})
    assert call.transfer.target == "billing"


def test_a_branch_entered_again_reads_the_queue_state_again() -> None:
    flow = make_flow(
        {
            "check": {
                "type": "branch",
                "cases": [{"when": "queue.billing.ewt_s > 600", "goto": "wait"}],
                "default": "billing",
            },
            "wait": {"type": "play", "prompts": ["still-busy"], "next": "check"},
            "billing": queue("billing"),
        }
    )
    call = Driver(flow)
    call.start()
    call.queues({"billing": {"ewt_s": 900}})
    call.played()
    assert call.queue_lookup.queues == ("billing",)
    call.queues({"billing": {"ewt_s": 60}})
    assert call.transfer.target == "billing"


@pytest.mark.parametrize(
    "text", ["queue.billing > 1", "queue.billing.ewt > 1", "queue.a.b.ewt_s > 1"]
)
def test_a_queue_name_is_queue_then_the_queue_then_a_known_field(text: str) -> None:
    with pytest.raises(ConditionError, match=r"queue\.QUEUE\.FIELD"):
        parse(text)
