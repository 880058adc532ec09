"""The report's aggregation, done by the database in two grouped queries.

Journeys are stored whole, as JSON (`journeys.data`, callpop/journeys.py). Reading a
million of them into Python to count would move gigabytes and parse each document
again; instead the database unnests the steps (`json_each` on SQLite,
`jsonb_array_elements` on PostgreSQL) and groups them, so what comes back is one
row per (node, how it was left) and one per (topic, outcome, target): a few hundred
rows whatever the number of calls.

Filters: `since` on `calls.started_at` (indexed), `flow` on the flow the call
entered (`calls.flow`), `version` on the dialplan version hash the call ran on
(`journeys.data.version.hash`, written by the runner since dialplan versions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.report.model import IntentStats, JourneyReport, NodeStats
from crm_adapter.sql.types import UtcDateTime
from ivr.flow import Flow

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


# Per dialect: how to read a field of a step (`s`) or of the journey (`j.data`), and
# how to unnest the steps. SQLite's `->>` needs 3.38 (Python 3.11 ships newer).
_SQLITE = {
    "steps": "json_each(j.data, '$.steps') AS s",
    "step": "s.value ->> '{}'",
    "num": "s.value ->> '{}'",
    "journey": "j.data ->> '$.{}'",
    "journey_num": "j.data ->> '$.{}'",
    "sum": "total",
}
_POSTGRES = {
    "steps": "jsonb_array_elements(j.data -> 'steps') AS s",
    "step": "s ->> '{}'",
    "num": "(s ->> '{}')::bigint",
    "journey": "j.data #>> '{{{}}}'",
    "journey_num": "(j.data #>> '{{{}}}')::bigint",
    "sum": "sum",
}


def _journey_path(sql: Mapping[str, str], kind: str, path: str) -> str:
    # SQLite paths are dotted ($.outcome.type), PostgreSQL's #>> takes {outcome,type}.
    return sql[kind].format(path if sql is _SQLITE else path.replace(".", ","))


def _where(sql: Mapping[str, str], filters: ReportFilters) -> tuple[str, str, dict[str, Any]]:
    joins = ""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if filters.since is not None or filters.flow is not None:
        joins = " JOIN calls c ON c.call_id = j.call_id"
    if filters.since is not None:
        conditions.append("c.started_at >= :since")
        params["since"] = filters.since
    if filters.flow is not None:
        conditions.append("c.flow = :flow")
        params["flow"] = filters.flow
    if filters.version is not None:
        conditions.append(f"{_journey_path(sql, 'journey', 'version.hash')} = :version")
        params["version"] = filters.version
    return joins, (" WHERE " + " AND ".join(conditions)) if conditions else "", params


def _statement(query: str, params: Mapping[str, Any]) -> Any:
    statement = text(query)
    if "since" in params:
        statement = statement.bindparams(bindparam("since", type_=UtcDateTime()))
    return statement


async def build_report(
    engine: AsyncEngine, filters: ReportFilters, flows: Mapping[str, Flow] | None = None
) -> JourneyReport:
    """The report over the stored journeys that pass `filters`. With `flows`, nodes are
    listed in each flow's file order (the entry flow first), else by entries."""
    sql = _POSTGRES if engine.dialect.name == "postgresql" else _SQLITE
    joins, where, params = _where(sql, filters)
    step = sql["step"].format
    num = sql["num"].format
    total = sql["sum"]
    steps_query = (
        f"SELECT {step('flow')}, {step('node')}, {step('kind')}, {step('result')}, max({step('label')}),"
        f" count(*), {total}({num('invalid')}), {total}({num('timeouts')}), {total}({num('ms')})"
        f" FROM journeys j{joins} CROSS JOIN {sql['steps']}{where} GROUP BY 1, 2, 3, 4"
    )
    at = _journey_path(sql, "journey_num", "outcome.at_ms")
    intents_query = (
        f"SELECT {_journey_path(sql, 'journey', 'topic')}, {_journey_path(sql, 'journey', 'outcome.type')},"
        f" {_journey_path(sql, 'journey', 'outcome.target')}, count(*), {total}({at}), min({at}), max({at})"
        f" FROM journeys j{joins}{where} GROUP BY 1, 2, 3"
    )
    async with engine.connect() as conn:
        step_rows = (await conn.execute(_statement(steps_query, params), params)).all()
        intent_rows = (await conn.execute(_statement(intents_query, params), params)).all()
    report = JourneyReport(filters.shown())
    report.nodes = _nodes(step_rows, flows, filters.flow)
    for topic, outcome, target, calls, at_total, at_min, at_max in intent_rows:
        report.calls += calls
        key = outcome or "unfinished"
        report.outcomes[key] = report.outcomes.get(key, 0) + calls
        report.intents.append(
            IntentStats(
                topic,
                outcome,
                target,
                calls,
                round((at_total or 0) / calls),
                int(at_min or 0),
                int(at_max or 0),
            )
        )
    report.intents.sort(key=lambda i: (-i.calls, i.topic or "", i.outcome or "", i.target or ""))
    return report


def _nodes(
    rows: Sequence[Any], flows: Mapping[str, Flow] | None, entry_flow: str | None
) -> list[NodeStats]:
    nodes: dict[tuple[str, str], NodeStats] = {}
    for flow, node, kind, result, label, count, invalid, timeouts, ms in rows:
        stats = nodes.get((flow, node))
        if stats is None:
            stats = nodes[(flow, node)] = NodeStats(flow, node, kind, label)
        stats.entries += count
        stats.exits[result or "unfinished"] = stats.exits.get(result or "unfinished", 0) + count
        stats.invalid += int(invalid or 0)
        stats.timeouts += int(timeouts or 0)
        stats.ms_total += int(ms or 0)
    if not flows:
        return sorted(nodes.values(), key=lambda n: (-n.entries, n.flow, n.node))
    first = entry_flow if entry_flow in flows else "main"
    flow_order = sorted(flows, key=lambda f: (f != first, f))
    order = {
        (f, n): i for i, (f, n) in enumerate((f, n) for f in flow_order for n in flows[f].nodes)
    }
    return sorted(
        nodes.values(), key=lambda n: (order.get((n.flow, n.node), len(order)), n.flow, n.node)
    )
