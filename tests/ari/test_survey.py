"""The post-call survey under ARI: `Stasis(callpop,survey=${CALLPOP_SURVEY})` on the
caller's channel once the agent hung up runs the same survey engine through the ARI
channel, the agent and the queue read from the channel as under FastAGI."""

from __future__ import annotations

from datetime import datetime

from callpop.pbx_sim.script import CallerScript
from ivr.ari.handler import IvrCallHandler
from ivr.loader import read_dialplan
from ivr.survey import SurveyAnswer, SurveyLeg

from ..agi.harness import DIALPLAN
from ..test_drivers_agree import Services
from .harness import ended, running, script

LINKEDID = "1795389902.7"


class Answers:
    """The survey services: every answer kept with its leg."""

    def __init__(self) -> None:
        self.stored: list[tuple[SurveyAnswer, SurveyLeg]] = []

    async def record_survey_answer(
        self, answer: SurveyAnswer, leg: SurveyLeg, *, at: datetime
    ) -> None:
        self.stored.append((answer, leg))


def after_the_agent_hung_up(keys: str, **variables: str) -> CallerScript:
    set_on_channel = {
        "CALLPOP_CALL_ID": LINKEDID,
        "CALLPOP_SURVEY": "main/after_call",
        "MEMBERINTERFACE": "PJSIP/101",
        "MEMBERNAME": "Alice",
        "QUEUENAME": "billing",
        "QUEUESTATUS": "CONTINUE",
        **variables,
    }
    return script(keys, uniqueid=LINKEDID, variables=tuple(set_on_channel.items()))


async def test_the_survey_runs_in_stasis_and_each_answer_is_stored_with_the_agent() -> None:
    flows = dict(read_dialplan(DIALPLAN)[0].flows)
    answers = Answers()
    async with running(IvrCallHandler(flows, Services(), surveys=answers)) as env:
        call = env.sim.call(
            after_the_agent_hung_up("5 7 4 2"),
            args=("survey=main/after_call",),
        )
        assert await ended(call, 30) == "hangup-application"
    assert [(a.question, a.score) for a, _ in answers.stored] == [
        ("resolved", 5),
        ("courtesy", 4),
        ("recommend", 2),
    ]
    assert {
        (leg.call_id, leg.queue, leg.interface, leg.member_name) for _, leg in answers.stored
    } == {(LINKEDID, "billing", "PJSIP/101", "Alice")}
    assert "sound:acme-survey-keys" in call.played  # after the 7
    assert call.played[-2:] == ["sound:auth-thankyou", "sound:goodbye"]


async def test_without_an_agent_on_the_channel_the_caller_goes_back_to_the_dialplan() -> None:
    flows = dict(read_dialplan(DIALPLAN)[0].flows)
    answers = Answers()
    async with running(IvrCallHandler(flows, Services(), surveys=answers)) as env:
        call = env.sim.call(
            after_the_agent_hung_up("5", MEMBERINTERFACE=""),
            args=("survey=",),
        )
        assert await ended(call) == "continued"
    assert answers.stored == [] and call.played == []
