"""How a caller reaches each destination: the keys to press and the seconds it takes.

The sign-off pack's "per intent" table. It is the simulator's answer, not a guess
from the diagram: for each circumstance a call can meet (open or closed hours, a
holiday, a caller the CRM does not know, knows, or knows with a tier a branch asks
for), every menu is explored breadth first by playing key prefixes through
`ivr.simulator.simulate`. A prefix that reaches a new listening point is extended
with each of that menu's option keys (and the operator key); an input gets an entry
its validation accepts, and a confirmation gets its "yes" key. So each destination
comes with the fewest keys that reach it and the time the simulator gives for them
(prompts heard to the end, a second to decide, keys a third of a second apart).

Pure, like the simulator: the times of day are computed from the flows' hours nodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from ivr.compiled import CompiledFlows, compiled
from ivr.flow import Flow, HoursNode, InputNode, MenuNode, PinNode
from ivr.schedule import status, zone
from ivr.simulator import (
    HANG_UP,
    SIMULATED_PIN,
    Crm,
    FakeCrm,
    ListeningPoint,
    NoCrm,
    Simulation,
    simulate,
)

__all__ = ["Circumstance", "Route", "acceptable_entry", "circumstances", "routes"]

MAX_TOKENS = 16
MAX_RUNS = 5_000

_DESTINATIONS = frozenset({"transfer", "voicemail", "hangup"})
_TIER = re.compile(r"""tier\s*==\s*["']([^"']+)["']""")


@dataclass(frozen=True, slots=True)
class Circumstance:
    """What the caller meets besides their keys: the time of the call and the CRM."""

    label: str
    now: datetime
    crm: Crm


@dataclass(frozen=True, slots=True)
class Route:
    """The fastest way found to one destination: a transfer, voicemail or hang-up node,
    or, when a menu lets the caller go itself (the operator key of a flow without an
    operator node), its target; `flow` and `node` are then where the caller left."""

    flow: str
    node: str
    label: str | None
    outcome: str  # transfer, voicemail (a transfer to a mailbox) or hangup
    target: str | None  # "queue billing", "extension 7100", "voicemail 8000@acme" ...
    priority: int | None
    topic: str | None
    keys: tuple[str, ...]
    menus: tuple[str, ...]  # the label (or id) of each listening point the keys answer
    ms: int
    when: str

    @property
    def seconds(self) -> float:
        return self.ms / 1000


def _hours_node(flows: Mapping[str, Flow], flow_id: str) -> HoursNode | None:
    flow = flows[flow_id]
    # An hours node whose schedule is not defined cannot be explored (lint reports it).
    return next(
        (n for n in flow.nodes.values() if isinstance(n, HoursNode) and n.timezone is not None),
        None,
    )


def _find(node: HoursNode, start: datetime, wanted: str) -> datetime | None:
    """The first hour from `start` (a week at most) when `node` says `wanted`."""
    timezone, weekly = node.hours()
    tz = zone(timezone)
    local = start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    for hour in range(24 * 8):
        at = local + timedelta(hours=hour, minutes=30)
        if status(at, tz, weekly, node.holidays) == wanted:
            return at
    return None


def circumstances(
    flows: Mapping[str, Flow], flow_id: str, reference: datetime
) -> list[Circumstance]:
    """The circumstances worth exploring for `flow_id` from `reference` on."""
    hours = _hours_node(flows, flow_id)
    times: list[tuple[str, datetime]] = []
    if hours is None:
        times.append(("", reference))
    else:
        for wanted, label in (("open", "open"), ("closed", "closed")):
            found = _find(hours, reference, wanted)
            if found is not None:
                times.append((label, found))
        # The first holiday day still ahead (a range counts from the later of its start
        # and today).
        today = reference.date()
        upcoming = sorted(max(h.first, today) for h in hours.holidays if h.last >= today)
        if upcoming:
            tz = zone(hours.hours()[0])
            times.append(("holiday", datetime.combine(upcoming[0], time(12, 0), tz)))
    tiers = sorted(
        {
            m.group(1)
            for flow in flows.values()
            for node in flow.nodes.values()
            if node.type == "branch"
            for case in node.cases
            for m in _TIER.finditer(case.when)
        }
    )
    crms: list[tuple[str, Crm]] = [("caller unknown", NoCrm()), ("caller known", FakeCrm())]
    crms += [(f"{tier} caller", FakeCrm(tier=tier)) for tier in tiers]
    # Options shown on a condition (e.g. only to callers with an open complaint).
    crms.append(("caller known, with an open case", FakeCrm(open_cases=1)))
    return [
        Circumstance(", ".join(p for p in (when, who) if p), at, crm)
        for when, at in times
        for who, crm in crms
    ]


class _Explorer:
    """A `KeySource` that plays `prefix`, then hangs up at the next listening point,
    remembering it: the explorer extends the prefix from there."""

    def __init__(self, prefix: tuple[str, ...]) -> None:
        self.prefix = prefix
        self.points: list[ListeningPoint] = []
        self.stopped: ListeningPoint | None = None

    def next_token(self, point: ListeningPoint) -> str | None:
        self.points.append(point)
        if len(self.points) <= len(self.prefix):
            return self.prefix[len(self.points) - 1]
        self.stopped = point
        return HANG_UP


def _luhn(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


def acceptable_entry(node: InputNode) -> str:
    """Digits an input accepts: the shortest length, Luhn-valid when it asks for it."""
    length = node.min_digits
    validate = node.validate_
    if validate is not None and validate.min_value is not None:
        digits = str(validate.min_value).rjust(length, "0")
    elif validate is not None and validate.luhn:
        digits = _luhn("4" + "1" * (length - 2)) if length > 1 else "0"
    else:
        digits = "1" * length
    ends = node.terminator is not None and len(digits) < node.max_digits
    return digits + (node.terminator or "") if ends else digits


def _answers(flows: Mapping[str, Flow], explorer: _Explorer) -> list[str]:
    point = explorer.stopped
    assert point is not None
    node = flows[point.flow].nodes[point.node]
    if isinstance(node, MenuNode):
        keys = list(node.options)
        operator = flows[point.flow].settings.keys.operator
        return keys + ([operator] if operator is not None and operator not in keys else [])
    if isinstance(node, InputNode):
        before = explorer.points[-2] if len(explorer.points) > 1 else None
        confirming = (
            node.confirm is not None
            and before is not None
            and (before.flow, before.node) == (point.flow, point.node)
        )
        return (
            [node.confirm.yes]
            if confirming and node.confirm is not None
            else [acceptable_entry(node)]
        )
    if isinstance(node, PinNode):
        # The made-up customers' PIN, then a wrong one: both ways out of the node.
        end = node.terminator or ""
        return [SIMULATED_PIN + end, "0" * node.min_digits + end]
    return []


def _explore(
    flows: Mapping[str, Flow], walked: CompiledFlows, flow_id: str, circumstance: Circumstance
) -> Iterator[Route]:
    queue: list[tuple[str, ...]] = [()]
    expanded: set[tuple[str, str, int]] = set()
    runs = 0
    while queue and runs < MAX_RUNS:
        prefix = queue.pop(0)
        explorer = _Explorer(prefix)
        sim = simulate(
            walked,
            flow_id=flow_id,
            caller="+15550100000",
            keys=explorer,
            crm=circumstance.crm,
            now=circumstance.now,
        )
        runs += 1
        if explorer.stopped is None:
            yield _route(flows, sim, prefix, explorer, circumstance)
            continue
        point = explorer.stopped
        # A confirmation is the same node asked again: tell it apart by the entries before.
        repeat = sum(
            1 for p in explorer.points[:-1] if (p.flow, p.node) == (point.flow, point.node)
        )
        if (point.flow, point.node, repeat) in expanded or len(prefix) >= MAX_TOKENS:
            continue
        expanded.add((point.flow, point.node, repeat))
        queue += [(*prefix, answer) for answer in _answers(flows, explorer)]


def _route(
    flows: Mapping[str, Flow],
    sim: Simulation,
    prefix: tuple[str, ...],
    explorer: _Explorer,
    circumstance: Circumstance,
) -> Route:
    journey = sim.journey
    last = journey.steps[-1]
    node = flows[last.flow].nodes[last.node]
    o = sim.outcome
    if o.type == "transfer":
        outcome = "voicemail" if o.kind == "voicemail" else "transfer"
        target = f"{o.kind} {o.target}"
    else:
        outcome, target = "hangup", None
    menus = tuple((flows[p.flow].nodes[p.node].label or p.node) for p in explorer.points)
    label = node.label if node.type in _DESTINATIONS else None
    at = journey.outcome.at_ms if journey.outcome is not None else sim.steps[-1].t_ms
    return Route(
        last.flow,
        last.node,
        label,
        outcome,
        target,
        o.priority,
        journey.topic,
        prefix,
        menus,
        at,
        circumstance.label,
    )


def routes(flows: Mapping[str, Flow], flow_id: str, reference: datetime) -> list[Route]:
    """Every destination of `flow_id` (and the flows it goes to) a caller can reach,
    each with its fastest route; destinations in the order first found."""
    best: dict[tuple[str, ...], Route] = {}
    walked = compiled(flows)  # once for the thousands of simulated calls
    for circumstance in circumstances(flows, flow_id, reference):
        for route in _explore(flows, walked, flow_id, circumstance):
            node_type = flows[route.flow].nodes[route.node].type
            key = (
                (route.flow, route.node)
                if node_type in _DESTINATIONS
                else (route.outcome, route.target or "")
            )
            known = best.get(key)
            if known is None or (len(route.keys), route.ms) < (len(known.keys), known.ms):
                best[key] = route
    return list(best.values())
