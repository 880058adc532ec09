"""Survey answers in the database (callpop/surveys.py), on SQLite and PostgreSQL: each
answer stored as given with its call, queue and agent; averages per queue, agent and
question for `callpop report` and the wallboard."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.board_sources import StoreBoardSources
from callpop.callbacks.store import CallbackStore
from callpop.flood import FloodStore
from callpop.metrics import Metrics
from callpop.queue_store import QueueStateStore
from callpop.report.model import format_text
from callpop.report.query import ReportFilters, build_report
from callpop.services import IvrServices
from callpop.surveys import SurveyStore
from crm_adapter.memory import InMemoryCrm
from crm_adapter.sql.tables import agents
from ivr.survey import SurveyAnswer, SurveyLeg
from screenpop.bus import InProcessBus
from screenpop.outlook import Score

T0 = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
ALICE = SurveyLeg("1795389902.6", "billing", "PJSIP/101", "Alice (queue)")
BOB = SurveyLeg("1795389999.1", "billing", "PJSIP/102", "")
CAROL = SurveyLeg("1795390000.4", "sales", "PJSIP/103", "Carol")


def answer(question: str, score: int, position: int = 1) -> SurveyAnswer:
    return SurveyAnswer("main", "after_call", question, position, score)


async def answered(store: SurveyStore, leg: SurveyLeg, *scores: int, at: datetime = T0) -> None:
    for position, (question, score) in enumerate(
        zip(("resolved", "courtesy", "recommend"), scores, strict=False), start=1
    ):
        await store.record(answer(question, score, position), leg, at=at)


async def add_agent(engine: AsyncEngine, name: str, interface: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(agents).values(
                name=name, interface=interface, role="agent", password_hash="x", created_at=T0
            )
        )


async def test_each_answer_is_one_row_with_its_call_queue_and_agent(engine: AsyncEngine) -> None:
    store = SurveyStore(engine)
    await answered(store, ALICE, 5, 4)
    rows = await store.answers_of(ALICE.call_id)
    assert [(r["question"], r["position"], r["score"]) for r in rows] == [
        ("resolved", 1, 5),
        ("courtesy", 2, 4),
    ]
    assert {(r["queue"], r["interface"], r["member_name"]) for r in rows} == {
        ("billing", "PJSIP/101", "Alice (queue)")
    }


async def test_a_replayed_answer_replaces_its_row_instead_of_counting_twice(
    engine: AsyncEngine,
) -> None:
    store = SurveyStore(engine)
    await store.record(answer("resolved", 2), ALICE, at=T0)
    await store.record(answer("resolved", 5), ALICE, at=T0 + timedelta(seconds=1))
    [row] = await store.answers_of(ALICE.call_id)
    assert row["score"] == 5


async def test_averages_per_queue_agent_and_question(engine: AsyncEngine) -> None:
    await add_agent(engine, "alice", "PJSIP/101")
    store = SurveyStore(engine)
    await answered(store, ALICE, 5, 4, 3)
    await answered(store, BOB, 2, 2)
    await answered(store, CAROL, 4)
    figures = await store.figures()
    assert (figures.answers, figures.calls) == (6, 3)
    assert figures.average == pytest.approx(20 / 6)
    assert [(q.key, q.answers, q.calls, round(q.average, 2)) for q in figures.queues] == [
        ("billing", 5, 2, 3.2),
        ("sales", 1, 1, 4.0),
    ]
    # named from the agents table, else by the queue's member name, else the interface alone
    assert [(a.key, a.name, a.answers, round(a.average, 2)) for a in figures.agents] == [
        ("PJSIP/101", "alice", 3, 4.0),
        ("PJSIP/102", "", 2, 2.0),
        ("PJSIP/103", "Carol", 1, 4.0),
    ]
    assert [(q.key, q.answers, round(q.average, 2)) for q in figures.questions] == [
        ("main/after_call/resolved", 3, 3.67),
        ("main/after_call/courtesy", 2, 3.0),
        ("main/after_call/recommend", 1, 3.0),
    ]


async def test_figures_count_the_answers_from_since(engine: AsyncEngine) -> None:
    store = SurveyStore(engine)
    await answered(store, ALICE, 1, 1, at=T0 - timedelta(days=1))
    await answered(store, BOB, 5, at=T0)
    figures = await store.figures(since=T0)
    assert (figures.answers, figures.average) == (1, 5.0)


async def test_the_report_shows_the_survey_averages(engine: AsyncEngine) -> None:
    store = SurveyStore(engine)
    await answered(store, ALICE, 5, 4, 3)
    await answered(store, CAROL, 2)
    report = await build_report(engine, ReportFilters())
    assert report.to_dict()["surveys"]["queues"] == [
        {"key": "billing", "name": "", "answers": 3, "calls": 1, "average": 4.0},
        {"key": "sales", "name": "", "answers": 1, "calls": 1, "average": 2.0},
    ]
    text = format_text(report)
    assert "Post-call surveys: 4 answers from 2 calls, average 3.50 of 5" in text
    [alice] = [line for line in text if line.startswith("PJSIP/101")]
    assert alice.split()[-3:] == ["3", "1", "4.00"]
    assert "Alice (queue)" in alice


async def test_the_wallboard_reads_todays_averages_per_queue_and_agent(
    engine: AsyncEngine,
) -> None:
    store = SurveyStore(engine)
    now = datetime.now(UTC)
    await answered(store, ALICE, 5, 3, at=now)
    await answered(store, BOB, 1, at=now - timedelta(days=2))  # not today
    sources = StoreBoardSources(
        QueueStateStore(engine), CallbackStore(engine), FloodStore(engine), store, max_age_s=30
    )
    today = await sources.survey_today()
    assert today.queues == {"billing": Score(4.0, 2)}
    assert today.agents == {"PJSIP/101": Score(4.0, 2)}
    assert today.overall == Score(4.0, 2)


async def test_a_store_that_fails_loses_the_answer_and_says_so_once(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        async def record(self, answer: SurveyAnswer, leg: SurveyLeg, *, at: datetime) -> None:
            raise ConnectionError("database is down")

    services = IvrServices(
        crm=InMemoryCrm(),
        bus=InProcessBus(),
        journeys=None,
        metrics=Metrics(),
        lookup_budget_ms=300,
        surveys=Broken(),
    )
    with caplog.at_level(logging.INFO, logger="callpop.services"):
        for question in ("resolved", "courtesy"):
            await services.record_survey_answer(answer(question, 3), ALICE, at=T0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "survey answers not stored" in warnings[0].getMessage()
    working = IvrServices(
        crm=InMemoryCrm(),
        bus=InProcessBus(),
        journeys=None,
        metrics=Metrics(),
        lookup_budget_ms=2000,
        surveys=SurveyStore(engine),
    )
    await working.record_survey_answer(answer("resolved", 3), ALICE, at=T0)
    assert len(await SurveyStore(engine).answers_of(ALICE.call_id)) == 1
