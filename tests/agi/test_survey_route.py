"""The post-call survey over FastAGI, end to end on the simulated Asterisk: the IVR
sends the caller to a queue with a survey; the emitted dialplan's `Queue(...,tc,...)`
continues the caller's channel once the agent hangs up (QUEUESTATUS=CONTINUE, with
MEMBERINTERFACE, MEMBERNAME and QUEUENAME left on it by app_queue), and
`AGI(agi://.../survey)` runs the survey on that same channel; each answer is stored at
once with the call id, the queue and the agent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agi_scripts.routes.survey import survey_route
from callpop.metrics import Metrics
from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerScript
from callpop.services import IvrServices
from callpop.surveys import SurveyStore
from crm_adapter.memory import InMemoryCrm
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from ivr import variables as v
from ivr.compiled import CompiledFlows
from screenpop.bus import InProcessBus

from .harness import OPEN_HOURS, FixedClock, MemoryServices, fastagi

UNIQUEID, LINKEDID = "1795389902.7", "1795389902.6"
AGENT = "Local/8100@callpop-agents/n"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    await upgrade(engine)
    yield engine
    await engine.dispose()


def stored_services(engine: AsyncEngine) -> IvrServices:
    return IvrServices(
        crm=InMemoryCrm(),
        bus=InProcessBus(),
        journeys=None,
        metrics=Metrics(),
        lookup_budget_ms=2000,
        surveys=SurveyStore(engine),
    )


async def call(port: int, script: CallerScript, path: str) -> CallRecord:
    return await asyncio.wait_for(call_fastagi("127.0.0.1", port, script, path=path), 60)


def after_the_agent_hung_up(ivr: CallRecord, keys: str, **app_queue: str) -> CallerScript:
    """The same caller's channel back in the dialplan after Queue(...,tc,...): the IVR's
    variables, and what app_queue set when it bridged the agent (setinterfacevar,
    setqueuevar: the emitted queues.conf)."""
    set_by_queue = {
        "MEMBERINTERFACE": AGENT,
        "MEMBERNAME": "Alice",
        "QUEUENAME": ivr.read(v.QUEUE),
        "QUEUESTATUS": "CONTINUE",
        **app_queue,
    }
    return CallerScript.parse(
        keys,
        uniqueid=UNIQUEID,
        linkedid=LINKEDID,
        answered=True,
        variables=tuple({**ivr.variables, **set_by_queue}.items()),
        context="callpop-route",
        extension="survey",
    )


async def billing_call_then_survey(
    flows: CompiledFlows, engine: AsyncEngine, survey_keys: str, **app_queue: str
) -> tuple[CallRecord, CallRecord]:
    """One caller: the IVR to the billing queue ("1 2"), then, once the agent hung up,
    the same channel on `/survey` with `survey_keys` (`app_queue` overrides what
    app_queue left on the channel)."""
    extra = [survey_route(flows, stored_services(engine), clock=FixedClock(OPEN_HOURS))]
    async with fastagi(flows, MemoryServices(), extra=extra) as server:
        script = CallerScript.parse("1 2", uniqueid=UNIQUEID, linkedid=LINKEDID)
        ivr = await call(server.port, script, "ivr?flow=main")
        after = after_the_agent_hung_up(ivr, survey_keys, **app_queue)
        survey = await call(server.port, after, "survey")
    return ivr, survey


async def test_after_the_agent_hangs_up_the_caller_answers_the_survey_and_it_is_stored(
    sample_flows: CompiledFlows, engine: AsyncEngine
) -> None:
    # a 9 is no answer: asked again; then 4 and 3
    ivr, survey = await billing_call_then_survey(sample_flows, engine, "5 9 4 3")
    assert ivr.read(v.OUTCOME) == "queue" and ivr.read(v.QUEUE) == "billing"
    assert ivr.read(v.SURVEY) == "main/after_call"
    rows = await SurveyStore(engine).answers_of(LINKEDID)
    assert [(r["question"], r["position"], r["score"]) for r in rows] == [
        ("resolved", 1, 5),
        ("courtesy", 2, 4),
        ("recommend", 3, 3),
    ]
    assert {(r["call_id"], r["flow"], r["survey"], r["queue"]) for r in rows} == {
        (LINKEDID, "main", "after_call", "billing")
    }
    assert {(r["interface"], r["member_name"]) for r in rows} == {(AGENT, "Alice")}
    sent = survey.sent_by_server()
    assert b'GET VARIABLE "CALLPOP_SURVEY"\n' in sent
    assert b'GET VARIABLE "MEMBERINTERFACE"\n' in sent
    assert survey.played.count("acme-survey-keys") == 1  # after the 9
    assert survey.played[-2:] == ["auth-thankyou", "goodbye"]
    assert b"HANGUP\n" in sent and survey.ended == "server-closed"


async def test_a_caller_who_hangs_up_midway_keeps_the_answers_given(
    sample_flows: CompiledFlows, engine: AsyncEngine
) -> None:
    _, survey = await billing_call_then_survey(sample_flows, engine, "4 h")
    assert survey.hung_up_by == "caller"
    rows = await SurveyStore(engine).answers_of(LINKEDID)
    assert [(r["question"], r["score"]) for r in rows] == [("resolved", 4)]


async def test_without_an_agent_on_the_channel_there_is_no_survey(
    sample_flows: CompiledFlows, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    _, survey = await billing_call_then_survey(sample_flows, engine, "5", MEMBERINTERFACE="")
    assert survey.played == []
    assert await SurveyStore(engine).answers_of(LINKEDID) == []
    assert any("MEMBERINTERFACE is empty" in r.getMessage() for r in caplog.records)


async def test_a_survey_the_dialplan_no_longer_has_sends_the_caller_back_untouched(
    sample_flows: CompiledFlows, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    _, survey = await billing_call_then_survey(
        sample_flows, engine, "5", CALLPOP_SURVEY="main/removed"
    )
    assert survey.played == [] and survey.hung_up_by is None
    assert await SurveyStore(engine).answers_of(LINKEDID) == []
    assert any("no survey 'removed'" in r.getMessage() for r in caplog.records)
