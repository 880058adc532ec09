"""Branches, hours, jumps, the nodes that leave the IVR, and the bounds on a call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ivr.actions import Collect, EnterNode, Hangup, Play, SayDigits, Sound, Transfer
from ivr.variables import ALL

from .session_driver import Driver, make_flow, menu, queue


def branch(*cases: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "type": "branch",
        "cases": [{"when": w, "goto": g} for w, g in cases],
        "default": "other",
        **extra,
    }


def routed(node: dict[str, Any], **driver: Any) -> Driver:
    flow = make_flow({"start": node, "a": queue("a"), "b": queue("b"), "other": queue("other")})
    call = Driver(flow, **driver)
    call.start()
    return call


def test_a_branch_takes_the_first_true_case() -> None:
    call = routed(branch(('call.dnis == "7000"', "a"), ("true", "b")))
    assert call.transfer.target == "a"
    assert call.journey.steps[0].result == "case-1"


def test_a_branch_with_no_true_case_takes_the_default() -> None:
    call = routed(branch(('caller.number startswith "+44"', "a")))
    assert call.transfer.target == "other"
    assert call.journey.steps[0].result == "default"


def test_a_branch_reads_variables_an_input_stored() -> None:
    flow = make_flow(
        {
            "amount": {"type": "input", "prompts": ["amount"], "variable": "amount", "next": "big"},
            "big": branch(("vars.amount >= 1000", "a")),
            "a": queue("a"),
            "other": queue("other"),
        }
    )
    call = Driver(flow)
    call.start()
    call.keys("1500")
    assert call.transfer.target == "a"


HOURS = {
    "type": "hours",
    "timezone": "Europe/Paris",
    "weekly": {"mon-fri": "09:00-17:00"},
    "holidays": ["2024-12-25"],
    "open": "a",
    "closed": "b",
}


def test_hours_open() -> None:
    call = routed(HOURS, now=datetime(2024, 6, 3, 10, 0, tzinfo=UTC))  # 12:00 in Paris
    assert call.transfer.target == "a"
    assert call.journey.steps[0].result == "open"


def test_hours_closed() -> None:
    call = routed(HOURS, now=datetime(2024, 6, 3, 16, 0, tzinfo=UTC))  # 18:00 in Paris
    assert call.transfer.target == "b"


def test_a_holiday_goes_to_holiday_or_else_closed() -> None:
    christmas = datetime(2024, 12, 25, 10, 0, tzinfo=UTC)
    assert routed(HOURS, now=christmas).transfer.target == "b"
    assert routed({**HOURS, "holiday": "other"}, now=christmas).transfer.target == "other"


def test_hours_are_read_when_the_call_reaches_them() -> None:
    # The call starts at 16:59:30 Paris time; it reaches the hours node 2 s later.
    flow = make_flow(
        {
            "m": menu({"1": "hours"}),
            "hours": HOURS,
            "a": queue("a"),
            "b": queue("b"),
        }
    )
    call = Driver(flow, now=datetime(2024, 6, 3, 14, 59, 30, tzinfo=UTC))
    call.start()
    call.at_ms = 29_000
    call.keys("1")
    assert call.transfer.target == "b"


def test_a_transfer_sets_every_outcome_variable_that_has_a_value() -> None:
    call = routed({"type": "transfer", "queue": "billing", "priority": 7, "topic": "billing"})
    assert call.transfer.kind == "queue"
    # In the order of ALL; no customer was found and the transfer names no survey, so
    # theirs are not set at all.
    unset = ("CALLPOP_CUSTOMER_ID", "CALLPOP_TIER", "CALLPOP_SURVEY")
    assert [name for name, _ in call.transfer.variables] == [
        name for name in ALL if name not in unset
    ]
    assert call.variables == {
        "CALLPOP_CALL_ID": "call-1",
        "CALLPOP_FLOW": "main",
        "CALLPOP_OUTCOME": "queue",
        "CALLPOP_TARGET": "billing",
        "CALLPOP_QUEUE": "billing",
        "CALLPOP_PRIORITY": "7",
        "CALLPOP_VERIFIED": "0",
        "CALLPOP_TOPIC": "billing",
        "CALLPOP_LAST_NODE": "start",
    }


def test_a_transfer_plays_its_prompts_first() -> None:
    call = routed({"type": "transfer", "extension": "2001", "prompts": ["pls-hold-while-try"]})
    assert call.transfer.prompts == (Sound("pls-hold-while-try"),)


def test_a_transfer_to_an_extension() -> None:
    call = routed({"type": "transfer", "extension": "2001"})
    assert (call.transfer.kind, call.transfer.target) == ("extension", "2001")
    assert call.variables["CALLPOP_OUTCOME"] == "extension"
    assert "CALLPOP_QUEUE" not in call.variables  # no queue: not set, reads as empty


def test_a_transfer_to_an_agent() -> None:
    call = routed({"type": "transfer", "agent": "PJSIP/101"})
    assert (call.transfer.kind, call.transfer.target) == ("agent", "PJSIP/101")


def test_voicemail() -> None:
    call = routed({"type": "voicemail", "mailbox": "100@default", "prompts": ["leave-msg"]})
    assert call.transfer == Transfer(
        "voicemail", "100@default", 0, call.transfer.variables, (Sound("leave-msg"),)
    )
    assert call.variables["CALLPOP_OUTCOME"] == "voicemail"


def test_hangup() -> None:
    call = routed({"type": "hangup", "prompts": ["goodbye"]})
    assert call.hangup.prompts == (Sound("goodbye"),)
    assert call.variables["CALLPOP_OUTCOME"] == "hangup"
    assert call.journey.outcome is not None and call.journey.outcome.type == "hangup"


def test_goto_a_node() -> None:
    call = routed({"type": "goto", "node": "b"})
    assert call.transfer.target == "b"


def test_goto_another_flow_enters_at_its_entry() -> None:
    main = make_flow({"start": {"type": "goto", "flow": "sales"}})
    sales = make_flow({"welcome": queue("sales"), "other": queue("x")}, id="sales")
    call = Driver({"main": main, "sales": sales})
    call.start()
    assert call.transfer.target == "sales"
    assert [(a.flow, a.node) for a in call.actions if isinstance(a, EnterNode)] == [
        ("main", "start"),
        ("sales", "welcome"),
    ]


def test_goto_a_node_of_another_flow() -> None:
    main = make_flow({"start": {"type": "goto", "flow": "sales", "node": "other"}})
    sales = make_flow({"welcome": queue("sales"), "other": queue("x")}, id="sales")
    call = Driver({"main": main, "sales": sales})
    call.start()
    assert call.transfer.target == "x"
    assert call.variables["CALLPOP_FLOW"] == "main"


def test_every_node_entered_is_announced() -> None:
    call = routed({"type": "goto", "node": "a"})
    assert call.actions[:2] == [
        EnterNode("main", "start", "goto"),
        EnterNode("main", "a", "transfer"),
    ]


def test_digits_prompts_fill_templates_and_keep_digits_only() -> None:
    call = routed(
        {
            "type": "play",
            "next": "a",
            "prompts": [{"digits": "{caller.number}"}, {"digits": "{vars.unset}"}],
        },
        number="+1 (555) 123",
    )
    assert call.play.prompts == (SayDigits("1555123"),)


def test_a_loop_that_never_listens_ends_at_max_steps() -> None:
    flow = make_flow(
        {"a": {"type": "goto", "node": "b"}, "b": {"type": "goto", "node": "a"}},
        settings={"max_steps": 10, "operator_queue": "frontdesk"},
    )
    call = Driver(flow)
    call.start()
    assert call.transfer.target == "frontdesk"
    assert call.reason == "max-steps"
    assert len(call.journey.steps) == 10


def test_a_caller_walking_in_circles_ends_at_max_steps() -> None:
    flow = make_flow(
        {"a": menu({"1": "b"}, "a-menu"), "b": menu({"1": "a"}, "b-menu")},
        settings={"max_steps": 6},
    )
    call = Driver(flow)
    call.start()
    for _ in range(6):  # the 6 nodes max_steps allows, each one listening
        assert isinstance(call.last, Collect)
        call.keys("1")
    assert call.transfer.target == "operator"
    assert call.reason == "max-steps"


def test_after_max_steps_the_operator_node_may_still_route() -> None:
    flow = make_flow(
        {
            "a": {"type": "play", "prompts": ["x"], "next": "a"},
            "op": {"type": "play", "prompts": ["pls-hold"], "next": "desk"},
            "desk": queue("desk"),
        },
        settings={"max_steps": 5, "operator": "op"},
    )
    call = Driver(flow)
    call.start()
    for _ in range(5):
        call.played()
    assert call.play.prompts == (Sound("pls-hold"),)
    call.played()
    assert call.transfer.target == "desk"
    assert call.reason == "max-steps"


def test_after_max_steps_an_operator_node_that_listens_is_skipped() -> None:
    flow = make_flow(
        {
            "a": {"type": "goto", "node": "a"},
            "op": menu({"1": "desk"}, "op-menu"),
            "desk": queue("desk"),
        },
        settings={"max_steps": 5, "operator": "op", "operator_queue": "fallback"},
    )
    call = Driver(flow)
    call.start()
    assert call.transfer.target == "fallback"


def test_after_max_steps_an_operator_loop_still_ends() -> None:
    flow = make_flow(
        {"a": {"type": "goto", "node": "a"}, "op": {"type": "goto", "node": "op"}},
        settings={"max_steps": 5, "operator": "op", "operator_queue": "fallback"},
    )
    call = Driver(flow)
    call.start()
    assert call.transfer.target == "fallback"


def test_the_journey_outcome_says_where_and_why() -> None:
    flow = make_flow({"m": menu({"1": "q"}), "q": queue("q", priority=3)})
    call = Driver(flow)
    call.start()
    call.keys("1")
    outcome = call.journey.outcome
    assert outcome is not None
    assert (outcome.type, outcome.target, outcome.priority, outcome.reason, outcome.at_ms) == (
        "queue",
        "q",
        3,
        "option",
        1000,
    )
    assert call.journey.variables == dict(call.transfer.variables)


def test_a_call_that_only_announces_and_hangs_up() -> None:
    flow = make_flow(
        {
            "closed": {"type": "play", "prompts": ["closed"], "next": "bye"},
            "bye": {"type": "hangup"},
        }
    )
    call = Driver(flow)
    assert isinstance(call.start()[-1], Play)
    assert isinstance(call.played()[-1], Hangup)
    assert call.reason == "routed"
