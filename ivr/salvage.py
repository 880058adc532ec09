"""A flow that failed validation, repaired just enough for lint to judge the rest.

`callpop lint` promises every finding at once. A field error (a typo, a reason under
10 characters, a bad type) makes the flow fail validation as a whole, and the whole-flow
rules (dangling targets, the 4x4 rule, keys, conditions...) would then never see it.
So lint repairs a copy of the file's data where validation failed and runs the rules
on that: an unknown field is dropped, a raised limit whose reason is too short keeps its
value, a bad optional section (settings, limits) falls back to its defaults, a node that
still does not validate becomes a stand-in with no way out. The repaired flow is never
run: calls only ever get flows that validate (`ivr.lint.check_dialplan`).

Rules whose answer a stand-in node would change (what it leads to) are not reported
for a flow that needed one: `STAND_IN_BLIND` lists them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from ivr.flow import Flow

__all__ = ["STAND_IN_BLIND", "Salvaged", "salvage_flow"]

STAND_IN_BLIND: Final = frozenset({"unreachable-node", "no-agent-path", "no-exit-loop"})
"""Rules a stand-in node (no way out) would make lie."""

_OPTIONAL_SECTIONS: Final = frozenset({"description", "settings", "limits"})
_STAND_IN: Final = {"type": "hangup"}
_MAX_ROUNDS: Final = 50


@dataclass(frozen=True, slots=True)
class Salvaged:
    flow: Flow
    stand_ins: frozenset[str]
    """Ids of the nodes replaced by a stand-in."""


def salvage_flow(data: Any, flow_id: str) -> Salvaged | None:
    """`data` (a flow file's mapping) repaired until it validates as flow `flow_id`,
    or None when what is broken is what every rule needs (`entry`, `nodes`)."""
    if not isinstance(data, dict):
        return None
    work = copy.deepcopy(data)
    work.pop("id", None)
    work["id"] = flow_id
    stand_ins: set[str] = set()
    for _ in range(_MAX_ROUNDS):
        try:
            return Salvaged(Flow.model_validate(work), frozenset(stand_ins))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        if not any(
            _repair(work, tuple(error["loc"]), error["type"], stand_ins) for error in errors
        ):
            return None
    return None


def _repair(work: dict[str, Any], loc: tuple[Any, ...], kind: str, stand_ins: set[str]) -> bool:
    """Repair the place of one error; True if something changed."""
    if not loc:
        return False
    top = loc[0]
    if top == "nodes" and len(loc) >= 2 and isinstance(work.get("nodes"), dict):
        return _repair_node(work["nodes"], loc[1], loc[2:], kind, stand_ins)
    if top == "limits" and loc[-1] == "reason" and kind == "string_too_short":
        return _lengthen(work, loc)
    if kind == "extra_forbidden" and len(loc) >= 1:
        return _delete(work, loc)
    if top in _OPTIONAL_SECTIONS and top in work:
        del work[top]  # its defaults
        return True
    return False


def _repair_node(
    nodes: dict[str, Any], node_id: Any, rest: tuple[Any, ...], kind: str, stand_ins: set[str]
) -> bool:
    node = nodes.get(node_id)
    if not isinstance(node, dict) or node_id in stand_ins:
        return False
    # pydantic names the node kind (the union's tag) first: ("menu", "timeout").
    inner = rest[1:] if rest and rest[0] == node.get("type") else rest
    if kind == "extra_forbidden" and inner and _delete(node, inner):
        return True
    if inner and inner[-1] == "reason" and kind == "string_too_short":
        return _lengthen(node, inner)
    nodes[node_id] = dict(_STAND_IN)
    stand_ins.add(str(node_id))
    return True


def _walk(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def _delete(data: Any, loc: tuple[Any, ...]) -> bool:
    parent = _walk(data, loc[:-1])
    if isinstance(parent, dict) and loc[-1] in parent:
        del parent[loc[-1]]
        return True
    return False


def _lengthen(data: Any, loc: tuple[Any, ...]) -> bool:
    """A limit's reason under 10 characters: the limit keeps its value (what the admin
    meant), the reason says it is too short (the error is reported anyway)."""
    parent = _walk(data, loc[:-1])
    if isinstance(parent, dict) and isinstance(parent.get(loc[-1]), str):
        parent[loc[-1]] = f"{parent[loc[-1]]} (too short)".strip()
        return True
    return False
