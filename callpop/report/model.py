"""The report's numbers, and how they read as text and JSON.

A node's `exits` count how its visits ended, by the journey step's `result`: a menu
key (`1`, `2` ...), `timeout`/`invalid` give-ups (`max-timeouts`, `max-invalid`),
`operator` (the caller zeroed out), `hangup` (the caller left there: the drop-off),
`back`, `entered`, `found` ... (the engine's own words, ivr/journey.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from callpop.surveys import SurveyFigures

__all__ = ["IntentStats", "JourneyReport", "NodeStats", "format_text"]

_KEY = re.compile(r"^[0-9*#]+$")
GIVE_UPS = ("max-invalid", "max-timeouts", "max-repeats", "agent-after-failures")


@dataclass(slots=True)
class NodeStats:
    flow: str
    node: str
    kind: str
    label: str | None = None
    entries: int = 0
    exits: dict[str, int] = field(default_factory=dict)
    invalid: int = 0
    timeouts: int = 0
    ms_total: int = 0

    @property
    def hangups(self) -> int:
        return self.exits.get("hangup", 0)

    @property
    def operator(self) -> int:
        return self.exits.get("operator", 0)

    @property
    def gave_up(self) -> int:
        return sum(self.exits.get(r, 0) for r in GIVE_UPS)

    @property
    def keys(self) -> dict[str, int]:
        """Exits by a menu key, most used first."""
        keys = {k: n for k, n in self.exits.items() if _KEY.match(k)}
        return dict(sorted(keys.items(), key=lambda item: (-item[1], item[0])))

    @property
    def drop_off(self) -> float:
        """The share of visits where the caller hung up."""
        return self.hangups / self.entries if self.entries else 0.0

    @property
    def avg_ms(self) -> int:
        return round(self.ms_total / self.entries) if self.entries else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "node": self.node,
            "kind": self.kind,
            "label": self.label,
            "entries": self.entries,
            "exits": dict(sorted(self.exits.items())),
            "keys": self.keys,
            "invalid": self.invalid,
            "timeouts": self.timeouts,
            "operator": self.operator,
            "hangups": self.hangups,
            "gave_up": self.gave_up,
            "drop_off": round(self.drop_off, 4),
            "avg_ms": self.avg_ms,
            "total_ms": self.ms_total,
        }


@dataclass(frozen=True, slots=True)
class IntentStats:
    """Calls of one topic that ended one way (`outcome` a CALLPOP_OUTCOME value, the
    target a queue, extension, agent or mailbox) and how long they took to get there."""

    topic: str | None
    outcome: str | None
    target: str | None
    calls: int
    avg_ms: int
    min_ms: int
    max_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "outcome": self.outcome,
            "target": self.target,
            "calls": self.calls,
            "avg_ms": self.avg_ms,
            "min_ms": self.min_ms,
            "max_ms": self.max_ms,
        }


@dataclass(slots=True)
class JourneyReport:
    filters: dict[str, str | None]
    calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    nodes: list[NodeStats] = field(default_factory=list)
    intents: list[IntentStats] = field(default_factory=list)
    surveys: SurveyFigures = field(default_factory=SurveyFigures)
    """Post-call survey answers given in the same window (`since`, `flow`)."""

    def node(self, flow: str, node: str) -> NodeStats | None:
        return next((n for n in self.nodes if n.flow == flow and n.node == node), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "filters": dict(self.filters),
            "calls": self.calls,
            "outcomes": dict(sorted(self.outcomes.items())),
            "nodes": [n.to_dict() for n in self.nodes],
            "intents": [i.to_dict() for i in self.intents],
            "surveys": self.surveys.to_dict(),
        }


def _s(ms: int) -> str:
    return f"{ms / 1000:.1f}s"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def format_text(report: JourneyReport) -> list[str]:
    """The report as a table for a terminal."""
    shown = ", ".join(f"{k} {v}" for k, v in report.filters.items() if v) or "all stored journeys"
    lines = [f"Journeys: {report.calls} calls ({shown})"]
    if report.calls == 0:
        return [*lines, "No journeys match.", *format_surveys(report.surveys)]
    lines.append(
        "Outcomes: "
        + ", ".join(
            f"{k} {n} ({_pct(n, report.calls)})" for k, n in sorted(report.outcomes.items())
        )
    )
    lines += ["", "Per node (visits; how they ended)"]
    head = f"{'node':<28} {'kind':<9} {'entries':>8} {'timeouts':>8} {'invalid':>8} {'operator':>8} {'gave up':>8} {'hang-ups':>8} {'drop-off':>8} {'avg time':>8}  keys"
    lines += [head, "-" * len(head)]
    for n in report.nodes:
        keys = " ".join(f"{k}:{c}" for k, c in n.keys.items())
        lines.append(
            f"{n.flow + ':' + n.node:<28} {n.kind:<9} {n.entries:>8} {n.timeouts:>8} {n.invalid:>8} "
            f"{n.operator:>8} {n.gave_up:>8} {n.hangups:>8} {_pct(n.hangups, n.entries):>8} {_s(n.avg_ms):>8}  {keys}"
        )
    lines += ["", "Per intent (topic; where the calls went; time to get there)"]
    head = f"{'topic':<14} {'outcome':<10} {'target':<20} {'calls':>7} {'avg':>7} {'min':>7} {'max':>7}"
    lines += [head, "-" * len(head)]
    for i in report.intents:
        lines.append(
            f"{i.topic or '-':<14} {i.outcome or '-':<10} {i.target or '-':<20} {i.calls:>7} "
            f"{_s(i.avg_ms):>7} {_s(i.min_ms):>7} {_s(i.max_ms):>7}"
        )
    return lines + format_surveys(report.surveys)


def format_surveys(figures: SurveyFigures) -> list[str]:
    """The post-call survey averages (scores 1-5) per queue, agent and question; nothing
    when no answer matches (a site without surveys sees the report it always had)."""
    if figures.answers == 0 or figures.average is None:
        return []
    lines = [
        "",
        f"Post-call surveys: {figures.answers} answers from {figures.calls} calls, "
        f"average {figures.average:.2f} of 5",
    ]
    for title, what, rows in (
        ("Per queue", "queue", figures.queues),
        ("Per agent", "agent", figures.agents),
        ("Per question", "question", figures.questions),
    ):
        head = f"{what:<40} {'answers':>8} {'calls':>7} {'average':>8}"
        lines += ["", title, head, "-" * len(head)]
        for row in rows:
            name = f"{row.key} ({row.name})" if row.name and row.name != row.key else row.key
            lines.append(f"{name or '-':<40} {row.answers:>8} {row.calls:>7} {row.average:>8.2f}")
    return lines
