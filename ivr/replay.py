"""Replay a stored journey on a version of the flows, and say where the two part.

`callpop simulate FLOW --replay CALL_ID` is this module behind a command line. The
stored journey (`Journey.to_dict()`, as saved) gives the caller's answers node by
node: its silences, then its keys (a node left by running out of silences had its
keys first), a hang-up where it hung up. The replay plays them through the
simulator in the same order, at the same wall-clock time (so `hours` decide as they
did), with a CRM that answers each lookup as the stored one did. An entry the journey
masked (a sensitive input: `******78`) is replayed as an entry the node accepts.

The two paths are then compared node by node: the first step where the node or the
way it was left differs is the divergence; the outcomes (transfer target, priority,
hang-up) are compared too. Pure: the caller hands the journey and the flows in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ivr.events import CustomerValue, LookupStatus, PinStatus
from ivr.flow import ENTRY_FLOW, Flow, InputNode, PinNode
from ivr.reach import acceptable_entry
from ivr.simulator import HANG_UP, SILENCE, CrmAnswer, ListeningPoint, Simulation, simulate

__all__ = [
    "Divergence",
    "ReplayCrm",
    "ReplayKeys",
    "ReplayResult",
    "StoredStep",
    "answers",
    "replay",
]

_MASKED = re.compile(r"^\*{2,}[0-9]{0,2}$")


@dataclass(frozen=True, slots=True)
class StoredStep:
    flow: str
    node: str
    kind: str
    entered_ms: int
    keys: tuple[str, ...]
    result: str | None
    timeouts: int = 0

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> StoredStep:
        return cls(
            str(data.get("flow", "")),
            str(data.get("node", "")),
            str(data.get("kind", "")),
            int(data.get("entered_ms") or 0),
            tuple(str(k) for k in data.get("keys") or ()),
            data.get("result"),
            int(data.get("timeouts") or 0),
        )


def answers(journey: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The caller's answers in order: (node, token) with `w` for a silence, `h` for the
    hang-up, keys as typed (a masked entry stays masked: `ReplayKeys` fills it in)."""
    out: list[tuple[str, str]] = []
    for step in journey.get("steps") or ():
        node = f"{step.get('flow')}:{step.get('node')}"
        silences = [(node, SILENCE)] * int(step.get("timeouts") or 0)
        keys = [(node, str(k)) for k in step.get("keys") or ()]
        out += keys + silences if step.get("result") == "max-timeouts" else silences + keys
    outcome = journey.get("outcome") or {}
    if outcome.get("reason") == "caller-hangup":
        out.append(("", HANG_UP))
    return out


class ReplayKeys:
    """A `KeySource` giving the stored answers in order, then silence."""

    def __init__(self, tokens: Sequence[str], flows: Mapping[str, Flow]) -> None:
        self._tokens = list(tokens)
        self._flows = flows
        self._next = 0
        self.filled: list[str] = []
        """Nodes where a masked entry was replaced by one the node accepts."""

    def next_token(self, point: ListeningPoint) -> str | None:
        if self._next >= len(self._tokens):
            return None
        token = self._tokens[self._next]
        self._next += 1
        node = self._flows[point.flow].nodes.get(point.node) if point.flow in self._flows else None
        if _MASKED.match(token) and isinstance(node, InputNode):
            self.filled.append(f"{point.flow}:{point.node}")
            return acceptable_entry(node)
        if _MASKED.match(token) and isinstance(node, PinNode):
            # A PIN of the right length: whether it was right is the stored answer's.
            return "0" * node.min_digits + (node.terminator or "")
        terminator = point.collect.terminator
        if (
            token not in (SILENCE, HANG_UP)
            and terminator
            and len(token) < point.collect.max_digits
            and not token.endswith(terminator)
        ):
            return token + terminator  # the journey keeps the entry, GET DATA needs its end
        return token


@dataclass(slots=True)
class ReplayCrm:
    """Answers the replay's lookups as the stored call's were answered, in order, and
    its PIN checks: each stored `pin` step's entries but the last were wrong, the last
    answered as the step was left (the PINs themselves were never stored)."""

    results: list[str]
    customer: Mapping[str, CustomerValue]
    extra: int = 0
    pins: list[PinStatus] = field(default_factory=list)

    def verify_pin(self, customer_id: str, pin: str) -> PinStatus:
        if not self.pins:
            self.extra += 1
            return PinStatus.UNAVAILABLE
        return self.pins.pop(0)

    def lookup(self, by: Literal["phone", "account"], value: str) -> CrmAnswer:
        if not self.results:
            self.extra += 1
            return CrmAnswer(LookupStatus.NOT_FOUND)
        result = self.results.pop(0)
        if result == "found":
            return CrmAnswer(LookupStatus.FOUND, dict(self.customer), 1)
        if result == "several":
            return CrmAnswer(LookupStatus.FOUND, None, 2)
        if result == "unavailable":
            return CrmAnswer(LookupStatus.UNAVAILABLE, took_ms=300)
        return CrmAnswer(LookupStatus.NOT_FOUND)


@dataclass(frozen=True, slots=True)
class Divergence:
    index: int  # 0-based step index where the paths part (len of the shorter if one stops)
    stored: StoredStep | None
    replayed: StoredStep | None
    reason: str


@dataclass(slots=True)
class ReplayResult:
    stored: list[StoredStep]
    replayed: list[StoredStep]
    stored_outcome: str
    replayed_outcome: str
    divergence: Divergence | None
    simulation: Simulation
    notes: list[str] = field(default_factory=list)


def _outcome(outcome: Mapping[str, Any] | None) -> str:
    if not outcome:
        return "unfinished"
    text = str(outcome.get("type"))
    if outcome.get("target"):
        text += f" {outcome['target']}"
    if outcome.get("priority"):
        text += f", priority {outcome['priority']}"
    return text


def _started(journey: Mapping[str, Any]) -> datetime:
    text = str(journey.get("started_at", ""))
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"the stored journey's started_at {text!r} is not an ISO 8601 time"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _customer(journey: Mapping[str, Any]) -> dict[str, CustomerValue]:
    variables = journey.get("variables") or {}
    return {
        "id": str(journey.get("customer_id") or "replayed-customer"),
        "name": str((journey.get("caller") or {}).get("name") or ""),
        "tier": str(variables.get("CALLPOP_TIER") or "standard"),
        "language": "en",
        "open_cases": 0,
    }


_PIN_LEFT = {
    "verified": PinStatus.VERIFIED,
    "locked": PinStatus.LOCKED,
    "no-pin": PinStatus.NO_PIN,
    "unavailable": PinStatus.UNAVAILABLE,
}


def _pin_answers(journey: Mapping[str, Any]) -> list[PinStatus]:
    answers: list[PinStatus] = []
    for step in journey.get("steps") or ():
        if step.get("kind") != "pin":
            continue
        entries = len(step.get("keys") or ())
        if entries:
            last = _PIN_LEFT.get(str(step.get("result")), PinStatus.WRONG)
            answers += [PinStatus.WRONG] * (entries - 1) + [last]
    return answers


def replay(flows: Mapping[str, Flow], journey: Mapping[str, Any]) -> ReplayResult:
    """Replay `journey` (as stored) on `flows`, from the flow the call entered; raises
    ValueError for a journey whose start time does not parse (the hours need it)."""
    stored = [StoredStep.of(s) for s in journey.get("steps") or ()]
    keys = ReplayKeys([token for _, token in answers(journey)], flows)
    crm = ReplayCrm(
        [s.result or "" for s in stored if s.kind == "lookup"],
        _customer(journey),
        pins=_pin_answers(journey),
    )
    caller = journey.get("caller") or {}
    sim = simulate(
        flows,
        flow_id=str(journey.get("flow") or ENTRY_FLOW),
        caller=str(caller.get("number") or ""),
        caller_name=str(caller.get("name") or ""),
        dnis=str(journey.get("dnis") or ""),
        keys=keys,
        crm=crm,
        now=_started(journey),
        call_id=str(journey.get("call_id") or "replay"),
    )
    replayed = [StoredStep.of(s.to_dict()) for s in sim.journey.steps]
    stored_outcome = _outcome(journey.get("outcome"))
    replayed_outcome = _outcome(sim.journey.to_dict().get("outcome"))
    result = ReplayResult(
        stored, replayed, stored_outcome, replayed_outcome, _diverge(stored, replayed), sim
    )
    if result.divergence is None and stored_outcome != replayed_outcome:
        result.divergence = Divergence(
            len(stored), None, None, f"the outcome is {replayed_outcome}, was {stored_outcome}"
        )
    if keys.filled:
        result.notes.append(
            "masked entries replayed as entries the node accepts at " + ", ".join(keys.filled)
        )
    if crm.extra:
        result.notes.append(
            f"{crm.extra} lookup(s) the stored call did not make answered 'not found'"
        )
    return result


def _diverge(stored: list[StoredStep], replayed: list[StoredStep]) -> Divergence | None:
    for index, (a, b) in enumerate(zip(stored, replayed, strict=False)):
        if (a.flow, a.node) != (b.flow, b.node):
            return Divergence(
                index,
                a,
                b,
                f"the stored call went to {a.flow}:{a.node}, the replay to {b.flow}:{b.node}",
            )
        if a.result != b.result:
            return Divergence(
                index, a, b, f"{a.flow}:{a.node} was left by {a.result!r}, now by {b.result!r}"
            )
    if len(stored) != len(replayed):
        index = min(len(stored), len(replayed))
        was = stored[index] if index < len(stored) else None
        now = replayed[index] if index < len(replayed) else None
        where = f"goes on to {now.flow}:{now.node}" if now else "ends here"
        went = f", the stored call went to {was.flow}:{was.node}" if was else ""
        return Divergence(index, was, now, f"the replay {where}{went}")
    return None
