"""Journeys folded into the hourly statistics rows (`journey_nodes`, `journey_outcomes`).

`JourneyStore.write` adds each batch's journeys here and writes the sums as increments
in the same transaction, so the statistics always agree with the journeys stored. A
journey written again under the same call id (a retried save) is taken out with
`sign=-1` before the new one goes in, so nothing counts twice; the fastest and
slowest times to reach an outcome only ever widen (a minimum cannot be taken back).

The keys use empty strings for "none" and the column lengths of the tables, exactly
as the migration that fills them from older journeys does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["NEUTRAL_MAX", "NEUTRAL_MIN", "Rollup", "interval_of"]

NodeKey = tuple[datetime, str, str, str, str, str, str]
"""interval_start, entry_flow, version, flow, node, kind, result"""
OutcomeKey = tuple[datetime, str, str, str, str, str]
"""interval_start, entry_flow, version, topic, outcome, target"""

# A taken-back journey must not move the minimum or the maximum of its row.
NEUTRAL_MIN = 2**62
NEUTRAL_MAX = -1


def interval_of(started: datetime) -> datetime:
    """The hour a call started in: the statistics' interval."""
    return started.replace(minute=0, second=0, microsecond=0)


def _text(value: Any, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(slots=True)
class Rollup:
    nodes: dict[NodeKey, list[int]] = field(default_factory=dict)
    """visits, ms, invalid, timeouts"""
    outcomes: dict[OutcomeKey, list[int]] = field(default_factory=dict)
    """calls, ms, ms_min, ms_max"""

    def add(self, interval: datetime, data: Mapping[str, Any], sign: int = 1) -> None:
        """Count one journey (`Journey.to_dict()`, as stored) in `interval`."""
        entry_flow = _text(data.get("flow"), 64)
        version_data = data.get("version")
        version = _text(version_data.get("hash"), 64) if isinstance(version_data, Mapping) else ""
        for step in data.get("steps") or ():
            key = (
                interval,
                entry_flow,
                version,
                _text(step.get("flow"), 64),
                _text(step.get("node"), 64),
                _text(step.get("kind"), 16),
                _text(step.get("result"), 32),
            )
            row = self.nodes.get(key)
            if row is None:
                row = self.nodes[key] = [0, 0, 0, 0]
            row[0] += sign
            row[1] += sign * _int(step.get("ms"))
            row[2] += sign * _int(step.get("invalid"))
            row[3] += sign * _int(step.get("timeouts"))
        outcome = data.get("outcome") or {}
        at = _int(outcome.get("at_ms"))
        key2 = (
            interval,
            entry_flow,
            version,
            _text(data.get("topic"), 32),
            _text(outcome.get("type"), 16),
            _text(outcome.get("target"), 200),
        )
        totals = self.outcomes.get(key2)
        if totals is None:
            totals = self.outcomes[key2] = [0, 0, NEUTRAL_MIN, NEUTRAL_MAX]
        totals[0] += sign
        totals[1] += sign * at
        if sign > 0:
            totals[2] = min(totals[2], at)
            totals[3] = max(totals[3], at)

    def node_rows(self) -> list[list[Any]]:
        """Rows to add, in key order (the same lock order for every writer)."""
        return [[*key, *values] for key, values in sorted(self.nodes.items()) if any(values)]

    def outcome_rows(self) -> list[list[Any]]:
        return [
            [*key, *values]
            for key, values in sorted(self.outcomes.items())
            if values[0] or values[1] or values[2] != NEUTRAL_MIN
        ]
