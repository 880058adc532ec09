"""The post-call survey engine (ivr/survey.py): after the agent hangs up, each question
takes one key; 1-5 is an answer handed out at once, anything else is invalid, silence a
timeout, each counted per question as a menu counts them; a hang-up keeps the answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ivr.actions import Collect, Hangup, Sound, Transfer
from ivr.errors import FlowError, SessionError
from ivr.events import Caller, CallStarted, DigitsEntered, HungUp
from ivr.flow import Flow
from ivr.session import Session
from ivr.survey import SurveyAction, SurveyAnswer, SurveySession

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def flows(**survey: Any) -> dict[str, Flow]:
    main = Flow.model_validate(
        {
            "id": "main",
            "entry": "billing",
            "settings": {"max_invalid": 3, "max_timeouts": 2},
            "nodes": {
                "billing": {"type": "transfer", "queue": "billing", "survey": "after"},
                "sales": {"type": "transfer", "queue": "sales"},
            },
            "surveys": {
                "after": {
                    "intro_prompts": [{"sound": "intro", "text": "Three questions."}],
                    "questions": [
                        {"id": "resolved", "prompts": ["q-resolved"]},
                        {"id": "courtesy", "prompts": ["q-courtesy"]},
                        {"id": "recommend", "prompts": ["q-recommend"]},
                    ],
                    "invalid_prompts": ["press-1-to-5"],
                    "timeout_prompts": ["did-not-hear"],
                    **survey,
                }
            },
        }
    )
    return {"main": main}


def start(**survey: Any) -> tuple[SurveySession, list[SurveyAction]]:
    session = SurveySession(flows(**survey), "main/after")
    return session, session.handle(CallStarted("1795389902.7", Caller("+15551234567"), NOW))


def sounds(action: SurveyAction) -> list[str]:
    assert isinstance(action, Collect | Hangup)
    return [p.name for p in action.prompts if isinstance(p, Sound)]


def key(digits: str) -> DigitsEntered:
    return DigitsEntered(digits, 0)


SILENCE = DigitsEntered("", 0, timed_out=True)


def test_a_queue_transfer_with_a_survey_leaves_its_flow_and_name_for_the_dialplan() -> None:
    [*_, transfer] = Session(flows(), "main").handle(CallStarted("c1", Caller(), NOW))
    assert isinstance(transfer, Transfer)
    assert dict(transfer.variables)["CALLPOP_SURVEY"] == "main/after"


def test_a_transfer_without_a_survey_leaves_none() -> None:
    main = flows()["main"].model_copy(update={"entry": "sales"})
    [*_, plain] = Session({"main": main}, "main").handle(CallStarted("c1", Caller(), NOW))
    assert isinstance(plain, Transfer)
    assert "CALLPOP_SURVEY" not in dict(plain.variables)


def test_each_question_takes_one_key_and_each_answer_is_handed_out_at_once() -> None:
    session, [first] = start()
    assert isinstance(first, Collect) and first.max_digits == 1 and first.terminator is None
    assert sounds(first) == ["intro", "q-resolved"]
    answer, second = session.handle(key("5"))
    assert answer == SurveyAnswer("main", "after", "resolved", 1, 5)
    assert sounds(second) == ["q-courtesy"]
    answer, third = session.handle(key("3"))
    assert answer == SurveyAnswer("main", "after", "courtesy", 2, 3)
    assert sounds(third) == ["q-recommend"]
    answer, goodbye = session.handle(key("1"))
    assert answer == SurveyAnswer("main", "after", "recommend", 3, 1)
    assert isinstance(goodbye, Hangup) and sounds(goodbye) == ["auth-thankyou", "goodbye"]
    assert session.ended and session.end == "completed"
    assert [a.score for a in session.answers] == [5, 3, 1]


@pytest.mark.parametrize("bad", ["0", "6", "9", "*", "#", ""])
def test_a_key_outside_1_to_5_asks_the_same_question_again(bad: str) -> None:
    session, _ = start()
    [again] = session.handle(DigitsEntered(bad, 0, timed_out=False))
    assert sounds(again) == ["press-1-to-5", "q-resolved"]
    assert session.answers == []
    answer, _ = session.handle(key("4"))
    assert answer == SurveyAnswer("main", "after", "resolved", 1, 4)


def test_silence_asks_again_and_the_flows_timeout_limit_ends_the_survey() -> None:
    session, _ = start()
    session.handle(key("5"))
    [again] = session.handle(SILENCE)
    assert sounds(again) == ["did-not-hear", "q-courtesy"]
    [goodbye] = session.handle(SILENCE)  # settings.max_timeouts: 2
    assert isinstance(goodbye, Hangup)
    assert session.end == "max-timeouts"
    assert [a.question for a in session.answers] == ["resolved"]


def test_the_surveys_own_limits_and_timeout_win_over_the_flows() -> None:
    session, [first] = start(max_invalid=1, timeout="8s")
    assert isinstance(first, Collect) and first.timeout_ms == 8000
    [goodbye] = session.handle(key("7"))
    assert isinstance(goodbye, Hangup) and session.end == "max-invalid"


def test_the_counters_start_again_for_each_question() -> None:
    session, _ = start()
    session.handle(SILENCE)
    session.handle(key("2"))
    [again] = session.handle(SILENCE)  # one silence on this question: asked again
    assert isinstance(again, Collect)


def test_a_caller_who_hangs_up_midway_keeps_the_answers_given() -> None:
    session, _ = start()
    session.handle(key("5"))
    session.handle(key("4"))
    assert session.handle(HungUp(0)) == []
    assert session.end == "hangup"
    assert [(a.question, a.score) for a in session.answers] == [("resolved", 5), ("courtesy", 4)]


def test_an_unknown_survey_or_flow_is_refused_before_the_caller_hears_anything() -> None:
    for ref in ("main/before", "tech/after", "after"):
        with pytest.raises(FlowError):
            SurveySession(flows(), ref)


def test_an_event_that_does_not_answer_a_question_is_a_session_error() -> None:
    session = SurveySession(flows(), "main/after")
    with pytest.raises(SessionError):
        session.handle(key("5"))
    session.handle(CallStarted("c1", Caller(), NOW))
    session.handle(HungUp(0))
    with pytest.raises(SessionError):
        session.handle(key("5"))
