"""The `survey_answers` table: post-call survey answers stored as they are given, and
their averages per queue, per agent and per question (the report and the wallboard).

An answer is one row (call id, flow, survey, question, its place, the score 1-5, the
queue, the agent's interface and member name, when). A replayed answer (the same call,
survey, question and agent) updates its row rather than adding one, so a retry never
counts twice; a caller surveyed after two agents (transferred to another queue) has a
row for each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.callbacks.rules import printable
from crm_adapter.sql.tables import LIMITS, agents, survey_answers
from ivr.survey import SurveyAnswer, SurveyLeg

__all__ = ["ScoreLine", "SurveyFigures", "SurveyStore"]

# Queue names, interfaces and member names come from the caller's channel: kept to
# one printable line of the column's length (`printable`, as the classic script stores
# them), so a control character never reaches a terminal or a page.
_clean = printable


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """The answers of one group (a queue, an agent, a question): how many, from how
    many calls, and their mean score (1-5)."""

    key: str
    answers: int
    calls: int
    average: float
    name: str = ""
    """An agent's name (the agents table, else the queue's member name)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "name": self.name,
            "answers": self.answers,
            "calls": self.calls,
            "average": round(self.average, 2),
        }


@dataclass(frozen=True, slots=True)
class SurveyFigures:
    answers: int = 0
    calls: int = 0
    average: float | None = None
    queues: tuple[ScoreLine, ...] = ()
    agents: tuple[ScoreLine, ...] = ()
    questions: tuple[ScoreLine, ...] = ()
    """Keyed `FLOW/SURVEY/QUESTION`, in the survey's order."""

    def to_dict(self) -> dict[str, object]:
        return {
            "answers": self.answers,
            "calls": self.calls,
            "average": None if self.average is None else round(self.average, 2),
            "queues": [line.to_dict() for line in self.queues],
            "agents": [line.to_dict() for line in self.agents],
            "questions": [line.to_dict() for line in self.questions],
        }


class SurveyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, answer: SurveyAnswer, leg: SurveyLeg, *, at: datetime) -> None:
        """Store one answer (ValueError for a naive time or a bad call id)."""
        if at.tzinfo is None:
            raise ValueError("naive datetime: an answer's time must be timezone-aware")
        if not leg.call_id or len(leg.call_id) > LIMITS["call_id"]:
            raise ValueError("an answer needs the call id it belongs to")
        interface = _clean(leg.interface, 128)
        key = and_(
            survey_answers.c.call_id == leg.call_id,
            survey_answers.c.flow == answer.flow,
            survey_answers.c.survey == answer.survey,
            survey_answers.c.question == answer.question,
            survey_answers.c.interface == interface,
        )
        values = {
            "call_id": leg.call_id,
            "flow": answer.flow,
            "survey": answer.survey,
            "question": answer.question,
            "position": answer.position,
            "score": answer.score,
            "queue": _clean(leg.queue, 128),
            "interface": interface,
            "member_name": _clean(leg.member_name, 200),
            "answered_at": at,
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(survey_answers).values(values))
        except IntegrityError:
            # The same answer again (a replay, or another instance): the latest stands.
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(survey_answers).where(key).values(score=answer.score, answered_at=at)
                )

    async def answers_of(self, call_id: str) -> list[dict[str, object]]:
        """One call's answers in the order given (tests, support)."""
        async with self._engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(survey_answers)
                        .where(survey_answers.c.call_id == call_id)
                        .order_by(survey_answers.c.id)
                    )
                )
                .mappings()
                .all()
            )
        return [dict(row) for row in rows]

    async def figures(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        flow: str | None = None,
    ) -> SurveyFigures:
        """Mean scores over the answers given from `since` (and before `until`), to the
        surveys of `flow` when given: in all, per queue, per agent (by interface, named
        from the agents table), per question."""
        conditions: list[ColumnElement[bool]] = []
        if flow is not None:
            conditions.append(survey_answers.c.flow == flow)
        if since is not None:
            conditions.append(survey_answers.c.answered_at >= since)
        if until is not None:
            conditions.append(survey_answers.c.answered_at < until)
        where = and_(True, *conditions)
        t = survey_answers
        mean = func.avg(t.c.score)
        n = func.count()
        calls = func.count(func.distinct(t.c.call_id))
        async with self._engine.connect() as conn:
            total = (await conn.execute(select(n, calls, mean).where(where))).one()
            by_queue = await conn.execute(
                select(t.c.queue, n, calls, mean).where(where).group_by(t.c.queue)
            )
            queues = _lines((q, a, c, m, "") for q, a, c, m in by_queue)
            by_agent = await conn.execute(
                select(
                    t.c.interface,
                    func.max(agents.c.name),
                    func.max(t.c.member_name),
                    n,
                    calls,
                    mean,
                )
                .select_from(t.outerjoin(agents, agents.c.interface == t.c.interface))
                .where(where)
                .group_by(t.c.interface)
            )
            agent_lines = _lines(
                (i, a, c, m, agent or member or "") for i, agent, member, a, c, m in by_agent
            )
            by_question = await conn.execute(
                select(t.c.flow, t.c.survey, t.c.question, func.min(t.c.position), n, calls, mean)
                .where(where)
                .group_by(t.c.flow, t.c.survey, t.c.question)
                .order_by(t.c.flow, t.c.survey, func.min(t.c.position))
            )
            questions = tuple(
                ScoreLine(f"{f}/{s}/{q}", int(a), int(c), float(m), "")
                for f, s, q, _, a, c, m in by_question
            )
        answers, n_calls, average = total
        return SurveyFigures(
            answers=int(answers),
            calls=int(n_calls),
            average=None if average is None else float(average),
            queues=queues,
            agents=agent_lines,
            questions=questions,
        )


def _lines(rows: Iterable[tuple[Any, Any, Any, Any, Any]]) -> tuple[ScoreLine, ...]:
    out = [ScoreLine(str(key), int(a), int(c), float(m), str(name)) for key, a, c, m, name in rows]
    return tuple(sorted(out, key=lambda line: line.key))
