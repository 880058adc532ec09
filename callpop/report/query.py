"""The report from the hourly journey statistics, in two grouped queries.

A journey is stored whole, as JSON; unnesting a million of them in the database
(SQLite's `json_each`) or parsing them in Python takes 20 s or more here. So
`JourneyStore.write` keeps per-hour sums as it writes (`journey_nodes`,
`journey_outcomes`: callpop/report/rollup.py) and a report groups those: a few
thousand rows for a month, whatever the number of calls.

Filters: `since` selects the hours from the one `since` falls in (calls are counted
in the hour they started, UTC); `flow` keeps the nodes of that flow (whichever flow
the call entered: a sub-flow is reached through `main`) and the calls, outcomes and
intents of the calls that entered it; `version` the dialplan version hash the call
ran on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.report.model import IntentStats, JourneyReport, NodeStats
from callpop.report.rollup import interval_of
from callpop.surveys import SurveyStore
from crm_adapter.sql.tables import journey_nodes, journey_outcomes
from ivr.flow import ENTRY_FLOW, Flow

__all__ = ["ReportFilters", "build_report"]


@dataclass(frozen=True, slots=True)
class ReportFilters:
    since: datetime | None = None
    flow: str | None = None
    version: str | None = None

    def shown(self) -> dict[str, str | None]:
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "flow": self.flow,
            "version": self.version,
        }


def _where(table: Any, filters: ReportFilters) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if filters.since is not None:
        conditions.append(table.c.interval_start >= interval_of(filters.since))
    if filters.flow is not None:
        # Nodes: those of the flow, whichever flow the call entered (a sub-flow's menus are
        # reached through main); calls: those that entered the flow.
        column = table.c.flow if table is journey_nodes else table.c.entry_flow
        conditions.append(column == filters.flow)
    if filters.version is not None:
        conditions.append(table.c.version == filters.version)
    return and_(True, *conditions)


async def build_report(
    engine: AsyncEngine, filters: ReportFilters, flows: Mapping[str, Flow] | None = None
) -> JourneyReport:
    """The report over the stored journeys that pass `filters`. With `flows`, nodes are
    listed in each flow's file order (the entry flow first), else by visits."""
    n = journey_nodes.c
    nodes_query: Select[Any] = (
        select(
            n.flow,
            n.node,
            n.kind,
            n.result,
            func.sum(n.visits),
            func.sum(n.ms),
            func.sum(n.invalid),
            func.sum(n.timeouts),
        )
        .where(_where(journey_nodes, filters))
        .group_by(n.flow, n.node, n.kind, n.result)
    )
    o = journey_outcomes.c
    outcomes_query: Select[Any] = (
        select(
            o.topic,
            o.outcome,
            o.target,
            func.sum(o.calls),
            func.sum(o.ms),
            func.min(o.ms_min),
            func.max(o.ms_max),
        )
        .where(_where(journey_outcomes, filters))
        .group_by(o.topic, o.outcome, o.target)
    )
    async with engine.connect() as conn:
        step_rows = (await conn.execute(nodes_query)).all()
        intent_rows = (await conn.execute(outcomes_query)).all()
    report = JourneyReport(filters.shown())
    report.nodes = _nodes(step_rows, flows, filters.flow)
    for topic, outcome, target, calls, at_total, at_min, at_max in intent_rows:
        calls = int(calls)
        if calls <= 0:
            continue
        report.calls += calls
        key = outcome or "unfinished"
        report.outcomes[key] = report.outcomes.get(key, 0) + calls
        report.intents.append(
            IntentStats(
                topic or None,
                outcome or None,
                target or None,
                calls,
                round(int(at_total) / calls),
                int(at_min),
                int(at_max),
            )
        )
    report.intents.sort(key=lambda i: (-i.calls, i.topic or "", i.outcome or "", i.target or ""))
    # Answers are counted from `since` itself (they are not rolled up by the hour); the
    # version filter does not apply to them (a survey answer has no dialplan version).
    report.surveys = await SurveyStore(engine).figures(since=filters.since, flow=filters.flow)
    return report


def _nodes(
    rows: Sequence[Any], flows: Mapping[str, Flow] | None, entry_flow: str | None
) -> list[NodeStats]:
    nodes: dict[tuple[str, str], NodeStats] = {}
    for flow, node, kind, result, visits, ms, invalid, timeouts in rows:
        if int(visits) <= 0:
            continue
        stats = nodes.get((flow, node))
        if stats is None:
            label = (
                flows[flow].nodes[node].label
                if flows and flow in flows and node in flows[flow].nodes
                else None
            )
            stats = nodes[(flow, node)] = NodeStats(flow, node, kind, label)
        stats.entries += int(visits)
        stats.exits[result or "unfinished"] = stats.exits.get(result or "unfinished", 0) + int(
            visits
        )
        stats.invalid += int(invalid)
        stats.timeouts += int(timeouts)
        stats.ms_total += int(ms)
    if not flows:
        return sorted(nodes.values(), key=lambda n: (-n.entries, n.flow, n.node))
    first = entry_flow if entry_flow in flows else ENTRY_FLOW
    flow_order = sorted(flows, key=lambda f: (f != first, f))
    order = {
        (f, n): i for i, (f, n) in enumerate((f, n) for f in flow_order for n in flows[f].nodes)
    }
    return sorted(
        nodes.values(), key=lambda n: (order.get((n.flow, n.node), len(order)), n.flow, n.node)
    )
