"""The Session contract with its driver (docs/contracts.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.actions import Collect
from ivr.errors import FlowError, SessionError
from ivr.events import (
    Caller,
    CallStarted,
    DigitsEntered,
    HungUp,
    LookupFinished,
    LookupStatus,
    PlayFinished,
)
from ivr.session import Session

from .session_driver import Driver, make_flow, menu, queue

FLOW = make_flow({"m": menu({"1": "q"}), "q": queue("q")})
START = CallStarted("call-1", Caller("+15551230000", "A"), datetime(2024, 6, 3, tzinfo=UTC))


def started() -> Session:
    session = Session({"main": FLOW})
    session.handle(START)
    return session


def test_the_first_event_must_be_call_started() -> None:
    session = Session({"main": FLOW})
    with pytest.raises(SessionError, match="first event must be CallStarted"):
        session.handle(DigitsEntered("1", 0))


def test_call_started_twice_is_a_driver_bug() -> None:
    session = started()
    with pytest.raises(SessionError, match="CallStarted does not answer"):
        session.handle(START)


def test_an_event_that_does_not_answer_the_pending_action_is_a_driver_bug() -> None:
    session = started()
    with pytest.raises(SessionError, match=r"PlayFinished .* \(expected DigitsEntered\)"):
        session.handle(PlayFinished(100))


def test_after_a_driver_bug_the_session_takes_no_more_events() -> None:
    session = started()
    with pytest.raises(SessionError):
        session.handle(LookupFinished(LookupStatus.NOT_FOUND, 100))
    assert session.ended
    with pytest.raises(SessionError, match="failed earlier"):
        session.handle(DigitsEntered("1", 200))


def test_a_driver_bug_is_recorded_as_an_error_outcome() -> None:
    session = started()
    with pytest.raises(SessionError):
        session.handle(PlayFinished(100))
    outcome = session.journey.outcome
    assert outcome is not None and (outcome.type, outcome.reason) == ("error", "driver-error")
    assert session.journey.variables["CALLPOP_OUTCOME"] == "error"


def test_expecting_names_the_answer_to_the_pending_action() -> None:
    session = Session({"main": FLOW})
    expected: list[object] = [session.expecting]
    session.handle(START)
    expected.append(session.expecting)
    session.handle(DigitsEntered("1", 100))
    expected.append(session.expecting)
    assert expected == [CallStarted, DigitsEntered, None]


def test_a_hang_up_ends_the_session() -> None:
    session = started()
    assert session.handle(HungUp(2500)) == []
    assert session.ended
    outcome = session.journey.outcome
    assert outcome is not None
    assert (outcome.type, outcome.reason, outcome.at_ms) == ("hangup", "caller-hangup", 2500)
    assert session.journey.steps[-1].result == "hangup"
    assert session.journey.steps[-1].left_ms == 2500


@pytest.mark.parametrize(
    ("cause", "recorded"),
    [
        ("protocol-error", ("protocol-error", "channel-protocol-error")),
        ("timeout", ("timeout", "channel-timeout")),
        ("cancelled", ("shutdown", "cancelled")),
        ("connection-lost", ("hangup", "channel-connection-lost")),
        ("caller", ("hangup", "caller-hangup")),
    ],
)
def test_a_channel_lost_to_a_fault_is_not_recorded_as_the_caller_hanging_up(
    cause: str, recorded: tuple[str, str]
) -> None:
    session = started()
    session.handle(HungUp(2500, cause=cause))
    outcome = session.journey.outcome
    assert outcome is not None
    assert (outcome.type, outcome.reason) == recorded
    assert session.journey.steps[-1].result == recorded[0]


def test_a_hang_up_after_the_ivr_ended_changes_nothing() -> None:
    session = started()
    session.handle(DigitsEntered("1", 100))
    assert session.handle(HungUp(200)) == []
    assert session.journey.outcome is not None and session.journey.outcome.type == "queue"


def test_no_event_but_a_hang_up_after_the_ivr_ended() -> None:
    session = started()
    session.handle(DigitsEntered("1", 100))
    with pytest.raises(SessionError, match="after the call left the IVR"):
        session.handle(DigitsEntered("1", 200))


def test_an_unknown_start_flow_is_refused_at_once() -> None:
    with pytest.raises(FlowError, match="no flow 'sales'"):
        Session({"main": FLOW}, "sales")


def test_a_dangling_target_is_a_flow_error_with_an_error_outcome() -> None:
    flow = make_flow({"m": menu({"1": "nowhere"})})
    session = Session({"main": flow})
    session.handle(START)
    with pytest.raises(FlowError, match="main:nowhere: no node 'nowhere'"):
        session.handle(DigitsEntered("1", 100))
    assert session.ended
    outcome = session.journey.outcome
    assert outcome is not None and (outcome.type, outcome.reason) == ("error", "flow-error")


def test_a_condition_that_does_not_parse_is_a_flow_error_naming_the_node() -> None:
    flow = make_flow(
        {
            "b": {"type": "branch", "cases": [{"when": "vars.x ==", "goto": "q"}], "default": "q"},
            "q": queue("q"),
        }
    )
    with pytest.raises(FlowError, match=r"main:b: case 1: expected a value .* character 10"):
        Session({"main": flow}).handle(START)


def test_a_bad_timezone_is_a_flow_error() -> None:
    flow = make_flow(
        {
            "h": {
                "type": "hours",
                "timezone": "Mars/Olympus",
                "weekly": {},
                "open": "q",
                "closed": "q",
            },
            "q": queue("q"),
        }
    )
    with pytest.raises(FlowError, match="unknown timezone"):
        Session({"main": flow}).handle(START)


def test_time_never_runs_backwards() -> None:
    session = started()
    session.handle(DigitsEntered("9", 5000))
    session.handle(DigitsEntered("1", 4000))
    step = session.journey.steps[0]
    assert step.left_ms == 5000


def test_the_same_events_give_the_same_actions() -> None:
    def run() -> list[object]:
        call = Driver(FLOW)
        out: list[object] = [call.start(), call.keys("9"), call.silence(), call.keys("1")]
        out.append(call.journey.to_dict())
        return out

    assert run() == run()


def test_each_answer_ends_with_exactly_one_waiting_or_final_action() -> None:
    call = Driver(FLOW)
    for actions in (call.start(), call.keys("7"), call.silence()):
        assert isinstance(actions[-1], Collect)
        assert sum(isinstance(a, Collect) for a in actions) == 1


def test_the_journey_names_the_call() -> None:
    call = Driver(FLOW, number="+15550001111", name="Ann", dnis="7000")
    call.start()
    journey = call.journey
    assert (
        journey.call_id,
        journey.flow,
        journey.caller_number,
        journey.caller_name,
        journey.dnis,
    ) == ("call-1", "main", "+15550001111", "Ann", "7000")
    assert journey.started_at == "2024-06-03T12:00:00.000Z"


def test_no_journey_before_the_call_starts() -> None:
    with pytest.raises(SessionError):
        _ = Session({"main": FLOW}).journey
