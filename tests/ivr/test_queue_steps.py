"""The busy-queue nodes (docs/dialplan.md, "Busy queues and floods"): `wait` announces
the estimated wait, `callback` offers to call back, `overflow` sends callers elsewhere
when a queue is closed or full, `flood` plays the known cause first."""

from __future__ import annotations

from typing import Any

import pytest

from ivr.actions import SayDigits, SayNumber, Sound
from ivr.events import CallbackStatus
from ivr.queue_steps import rounded_wait

from .session_driver import Driver, make_flow, queue


@pytest.mark.parametrize(
    ("ewt_s", "said"),
    [
        (0, (True, 1)),
        (59, (True, 1)),
        (60, (False, 1)),
        (61, (False, 2)),
        (600, (False, 10)),
        (601, (False, 15)),
        (12 * 60, (False, 15)),
        (3600, (False, 60)),
        (3601, (False, 75)),
    ],
)
def test_the_estimate_is_rounded_up_coarser_as_it_grows(ewt_s: int, said: tuple[bool, int]) -> None:
    assert rounded_wait(ewt_s) == said


WAIT = {
    "estimate": {"type": "wait", "queue": "billing", "next": "billing", "unknown": "sorry"},
    "billing": queue("billing"),
    "sorry": queue("operator"),
}


def test_the_wait_is_said_in_minutes_with_asterisks_queue_sounds() -> None:
    call = Driver(make_flow(WAIT))
    call.start()
    assert call.queue_lookup.queues == ("billing",)
    call.queues({"billing": {"ewt_s": 700}})
    assert call.play.prompts == (
        Sound("queue-holdtime", "The estimated hold time is currently"),
        SayNumber(15),
        Sound("queue-minutes", "minutes"),
    )
    assert not call.play.interruptible
    call.played()
    assert call.transfer.target == "billing"
    assert call.journey.steps[0].result == "15min"


def test_under_a_minute_is_less_than_one_minute() -> None:
    call = Driver(make_flow(WAIT))
    call.start()
    call.queues({"billing": {"ewt_s": 20}})
    assert call.play.prompts[1:] == (
        Sound("queue-less-than", "less than"),
        SayNumber(1),
        Sound("queue-minute", "minute"),
    )


def test_no_estimate_says_nothing_and_goes_to_unknown() -> None:
    call = Driver(make_flow(WAIT))
    call.start()
    call.queues({"billing": {"ewt_s": None}})
    assert call.transfer.target == "operator"


CALLBACK: dict[str, Any] = {
    "offer": {
        "type": "callback",
        "queue": "billing",
        "offer_above": "10m",
        "declined": "billing",
    },
    "billing": queue("billing"),
}


def _offered(**fields: Any) -> Driver:
    nodes = {**CALLBACK, "offer": {**CALLBACK["offer"], **fields}}
    call = Driver(make_flow(nodes), number="5551234567", name="ANN SMITH")
    call.start()
    call.queues({"billing": {"ewt_s": 900}})
    return call


def test_below_the_threshold_no_callback_is_offered() -> None:
    call = Driver(make_flow(CALLBACK))
    call.start()
    call.queues({"billing": {"ewt_s": 600}})
    assert call.transfer.target == "billing"
    assert call.journey.steps[0].result == "below-threshold"


def test_an_unknown_wait_offers_no_callback() -> None:
    call = Driver(make_flow(CALLBACK))
    call.start()
    call.queues({})
    assert call.transfer.target == "billing"


def test_a_caller_who_declines_keeps_waiting() -> None:
    call = _offered()
    assert call.sounds == ["callpop/callback-offer"]
    call.keys("2")
    assert call.transfer.target == "billing"
    assert call.journey.steps[0].result == "declined"


def test_the_caller_hears_their_caller_id_read_back() -> None:
    call = _offered()
    call.keys("1")
    assert call.collect.terminator == "#"
    assert SayDigits("5551234567") in call.collect.prompts


def test_confirming_the_caller_id_with_pound_requests_a_callback_on_it() -> None:
    call = _offered()
    call.keys("1")
    call.terminator()
    request = call.callback_request
    assert (request.queue, request.number, request.caller_id) == ("billing", "5551234567", True)
    assert request.caller_name == "ANN SMITH"
    assert request.waited_s == 3.0  # the test driver's clock: a second per answer


def test_the_stored_request_tells_the_caller_their_place_then_hangs_up_politely() -> None:
    call = _offered()
    call.keys("1")
    call.keys("1")
    call.callback(CallbackStatus.STORED, 4, "+15551234567")
    assert call.hangup.prompts[-3:] == (
        Sound("callpop/callback-booked", call.hangup.prompts[-3].text),  # type: ignore[union-attr]
        SayNumber(4),
        Sound("goodbye", "Goodbye."),
    )
    assert call.reason == "callback-requested"
    assert call.journey.steps[0].result == "requested"


def test_a_typed_number_is_requested_and_kept_out_of_the_journey() -> None:
    call = _offered()
    call.keys("1")
    call.keys("2125550199")
    request = call.callback_request
    assert (request.number, request.caller_id) == ("2125550199", False)
    assert "2125550199" not in str(call.journey.to_dict())


def test_an_invalid_number_is_asked_again_then_the_caller_keeps_waiting() -> None:
    call = _offered()
    call.keys("1")
    call.keys("12")
    call.callback(CallbackStatus.INVALID_NUMBER)
    assert call.sounds[0] == "callpop/callback-bad-number"
    call.keys("34")
    call.callback(CallbackStatus.INVALID_NUMBER)
    assert call.transfer.target == "billing"
    assert call.journey.steps[0].result == "no-valid-number"


def test_a_store_that_is_down_leaves_the_caller_in_the_queue() -> None:
    call = _offered()
    call.keys("1")
    call.keys("1")
    call.callback(CallbackStatus.UNAVAILABLE)
    assert call.transfer.target == "billing"


def test_after_the_request_the_flow_may_go_on() -> None:
    call = _offered(then="survey")
    call.keys("1")
    call.keys("1")
    call.callback(CallbackStatus.STORED, 1, "+15551234567")
    assert call.play.prompts[-1] == SayNumber(1)


OVERFLOW = {
    "check": {
        "type": "overflow",
        "queue": "billing",
        "max_waiting": 10,
        "max_wait": "20m",
        "to": "overflow",
        "next": "billing",
    },
    "billing": queue("billing"),
    "overflow": queue("overflow"),
}


@pytest.mark.parametrize(
    ("state", "target", "result"),
    [
        ({"open": False}, "overflow", "closed"),
        ({"logged_in": 0}, "overflow", "closed"),
        ({"full": True}, "overflow", "full"),
        ({"available": 0, "callers": 10}, "overflow", "over-max-waiting"),
        ({"available": 1, "callers": 10}, "billing", "room"),
        ({"available": 0, "callers": 9}, "billing", "room"),
        ({"ewt_s": 1201}, "overflow", "over-max-wait"),
        ({"ewt_s": 1200}, "billing", "room"),
        ({}, "billing", "room"),
    ],
)
def test_overflow_when_the_queue_is_closed_or_over_capacity(
    state: dict[str, Any], target: str, result: str
) -> None:
    call = Driver(make_flow(OVERFLOW))
    call.start()
    call.queues({"billing": state} if state else {})
    assert call.transfer.target == target
    assert call.journey.steps[0].result == result


FLOOD = {
    "flood": {
        "type": "flood",
        "messages": {"known-outage": [{"sound": "acme-outage", "text": "We know."}]},
        "next": "self_service",
        "normal": "billing",
    },
    "self_service": {"type": "hangup", "prompts": ["goodbye"]},
    "billing": queue("billing"),
}


def test_flood_mode_on_plays_its_message_first_then_self_service() -> None:
    call = Driver(make_flow(FLOOD))
    call.start()
    assert call.flood_lookup is not None
    call.flood("known-outage")
    assert call.sounds == ["acme-outage"]
    call.played()
    assert call.hangup.prompts == (Sound("goodbye"),)
    assert call.journey.steps[0].result == "on:known-outage"


def test_flood_mode_off_is_the_usual_path() -> None:
    call = Driver(make_flow(FLOOD))
    call.start()
    call.flood(None)
    assert call.transfer.target == "billing"


def test_flood_mode_with_a_message_the_node_cannot_say_is_the_usual_path() -> None:
    call = Driver(make_flow(FLOOD))
    call.start()
    call.flood("price-change")
    assert call.transfer.target == "billing"
    assert call.journey.steps[0].result == "unknown-message"


def test_a_withheld_caller_id_is_not_offered_and_a_number_is_asked_for() -> None:
    nodes = {**CALLBACK}
    call = Driver(make_flow(nodes), number="anonymous")
    call.start()
    call.queues({"billing": {"ewt_s": 900}})
    call.keys("1")
    assert call.sounds == ["callpop/callback-type-number"]
    call.terminator()  # nothing to confirm: asked again
    assert call.sounds == ["callpop/callback-type-number"]
    call.terminator()
    assert call.transfer.target == "billing"
