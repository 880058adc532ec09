"""A flow as a diagram: boxes, labelled arrows and a legend, independent of the drawing.

`build(flow)` reads the same `Flow` the engine runs and turns each node into a box
(what the caller hears, the facts an admin checks) and each way out of a node into
an arrow labelled with what takes the caller there: a key, `found`, `closed`, a
branch condition. The three renderers (SVG, Mermaid, DOT) draw this one model, so
they can never disagree about the tree.

Global keys (`0` operator, `*` back, `#` repeat) and the give-up rules apply to
every menu; drawn as arrows they would double the picture and hide the tree, so
they are stated once in the legend. An explicit `on_failure` of a menu or an
input *is* drawn: it is that node's own exception to the rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from ivr.flow import (
    BranchNode,
    CallbackNode,
    FloodNode,
    Flow,
    GotoNode,
    HangupNode,
    HoursNode,
    InputNode,
    LookupNode,
    MenuNode,
    Node,
    OverflowNode,
    PinNode,
    PlayNode,
    Prompt,
    TransferNode,
    VoicemailNode,
    WaitNode,
)

__all__ = [
    "EDGE_KINDS",
    "TERMINAL_KINDS",
    "Diagram",
    "DiagramEdge",
    "DiagramNode",
    "EdgeKind",
    "build",
    "describe_duration",
    "prompt_text",
]

EdgeKind = Literal["option", "result", "next", "failure"]
EDGE_KINDS: tuple[EdgeKind, ...] = ("option", "result", "next", "failure")

TERMINAL_KINDS = frozenset({"transfer", "voicemail", "hangup"})
"""Kinds where the IVR ends: nothing leaves them."""

MISSING = "missing"
"""Kind of the box drawn for a target no node defines (lint reports it as dangling)."""


@dataclass(frozen=True, slots=True)
class DiagramNode:
    """One box. `prompts` is what the caller hears, one entry per prompt;
    `details` are short facts (queue and priority, timezone, validation...)."""

    id: str
    kind: str
    title: str
    prompts: tuple[str, ...] = ()
    details: tuple[str, ...] = ()

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL_KINDS


@dataclass(frozen=True, slots=True)
class DiagramEdge:
    """One arrow. `key` is set for a menu option (the phone key); `label` says
    what the arrow means (the option's label, `found`, a condition...)."""

    source: str
    target: str
    kind: EdgeKind
    label: str = ""
    key: str | None = None
    topic: str | None = None

    @property
    def text(self) -> str:
        """The label as one line, key first: `1 · Billing`, `found`, `otherwise`."""
        if self.key is not None:
            return f"{self.key} · {self.label}" if self.label else self.key
        return self.label


@dataclass(frozen=True, slots=True)
class Diagram:
    flow: str
    description: str | None
    entry: str
    nodes: tuple[DiagramNode, ...]
    edges: tuple[DiagramEdge, ...]
    legend: tuple[str, ...]
    roots: tuple[str, ...]
    """Nodes a reader starts from: the entry, then the operator node (reached by the
    operator key and every give-up, so no arrow leads to it)."""

    def node(self, node_id: str) -> DiagramNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def outgoing(self, node_id: str) -> tuple[DiagramEdge, ...]:
        return tuple(e for e in self.edges if e.source == node_id)


def describe_duration(ms: int) -> str:
    if ms % 60_000 == 0 and ms >= 60_000:
        return f"{ms // 60_000}m"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def prompt_text(prompt: Prompt) -> str:
    """What a prompt says, for people: its `text`, else a placeholder naming the sound."""
    if prompt.sound is not None:
        return prompt.text if prompt.text else f"[{prompt.sound}]"
    if prompt.digits is not None:
        return f"‹digits {prompt.digits}›"
    return f"‹number {prompt.number}›"


def build(flow: Flow) -> Diagram:
    """The diagram of one flow file. Never fails on a flow that loads: a target no
    node defines becomes a `missing` box, so the picture shows what lint reports."""
    nodes = [_node(node_id, node, flow) for node_id, node in flow.nodes.items()]
    edges = _merge(
        [edge for node_id, node in flow.nodes.items() for edge in _edges(node_id, node, flow)]
    )
    known = set(flow.nodes)
    missing = sorted({e.target for e in edges if e.target not in known})
    if flow.entry not in known and flow.entry not in missing:
        missing.insert(0, flow.entry)
    nodes += [
        DiagramNode(id=m, kind=MISSING, title=m, details=("no node has this id",)) for m in missing
    ]
    roots = [flow.entry]
    operator = flow.settings.operator
    if operator is not None and operator != flow.entry:
        roots.append(operator)
    return Diagram(
        flow=flow.id,
        description=flow.description,
        entry=flow.entry,
        nodes=tuple(nodes),
        edges=tuple(edges),
        legend=_legend(flow),
        roots=tuple(roots),
    )


# --- nodes ------------------------------------------------------------------------


def _title(node_id: str, node: Node) -> str:
    return node.label or node_id.replace("_", " ").capitalize()


def _node(node_id: str, node: Node, flow: Flow) -> DiagramNode:
    prompts: tuple[Prompt, ...] = getattr(node, "prompts", ())
    return DiagramNode(
        id=node_id,
        kind=node.type,
        title=_title(node_id, node),
        prompts=tuple(prompt_text(p) for p in prompts),
        details=tuple(_details(node, flow)),
    )


def _details(node: Node, flow: Flow) -> Iterator[str]:
    if isinstance(node, MenuNode):
        if node.topic:
            yield f"topic {node.topic}"
        if node.timeout is not None:
            yield f"waits {describe_duration(node.timeout)}"
        if node.direct_dial is not None:
            dd = node.direct_dial
            yield f"dial an extension: {dd.pattern} ({dd.min_digits}-{dd.max_digits} digits)"
    elif isinstance(node, InputNode):
        yield from _input_details(node)
    elif isinstance(node, LookupNode):
        yield "by caller number" if node.by == "caller" else f"by account in vars.{node.variable}"
    elif isinstance(node, HoursNode):
        if node.schedule is not None:
            yield f"schedule {node.schedule}"
        if node.timezone is None or node.weekly is None:
            return
        yield node.timezone
        for days, spans in node.weekly.items():
            yield f"{days} {spans if isinstance(spans, str) else ', '.join(spans)}"
        if node.holidays:
            count = sum((h.last - h.first).days + 1 for h in node.holidays)
            yield f"{count} holiday date{'s' if count != 1 else ''}"
    elif isinstance(node, PlayNode):
        yield "a key skips it" if node.interruptible else "plays to the end"
    elif isinstance(node, TransferNode):
        yield f"{node.kind} {node.target}" + (
            f" · priority {node.priority}" if node.priority else ""
        )
        if node.topic:
            yield f"topic {node.topic}"
    elif isinstance(node, VoicemailNode):
        yield f"mailbox {node.mailbox}"
    elif isinstance(node, GotoNode):
        if node.flow is not None:
            where = f"flow {node.flow}" if node.node is None else f"{node.node} in flow {node.flow}"
            yield f"continues in {where}"
    elif isinstance(node, WaitNode):
        yield f"says queue {node.queue}'s estimated wait"
    elif isinstance(node, CallbackNode):
        yield f"queue {node.queue} · offered above {describe_duration(node.offer_above)}"
    elif isinstance(node, OverflowNode):
        limits = [f"{node.max_waiting} waiting"] if node.max_waiting is not None else []
        if node.max_wait is not None:
            limits.append(f"wait over {describe_duration(node.max_wait)}")
        yield f"queue {node.queue} closed" + (f", {' or '.join(limits)}" if limits else "")
    elif isinstance(node, FloodNode):
        yield "messages " + ", ".join(node.messages)
    elif isinstance(node, PinNode):
        yield f"PIN checked by the CRM · {node.max_attempts} attempts"
    elif isinstance(node, HangupNode | BranchNode):
        pass


def _input_details(node: InputNode) -> Iterator[str]:
    if node.min_digits == node.max_digits:
        length = f"{node.max_digits} digits"
    else:
        length = f"{node.min_digits}-{node.max_digits} digits"
    ends = f", {node.terminator} ends" if node.terminator else ""
    yield f"vars.{node.variable} · {length}{ends}"
    checks: list[str] = []
    if node.validate_ is not None:
        v = node.validate_
        if v.pattern:
            checks.append(f"matches {v.pattern}")
        if v.luhn:
            checks.append("Luhn check digit")
        if v.min_value is not None or v.max_value is not None:
            low = "" if v.min_value is None else str(v.min_value)
            high = "" if v.max_value is None else str(v.max_value)
            checks.append(f"value {low}..{high}")
    if checks:
        yield ", ".join(checks)
    if node.confirm is not None:
        yield f"read back: {node.confirm.yes} confirms, {node.confirm.no} re-enters"
    if node.sensitive:
        yield "masked in journeys and logs"


# --- edges ------------------------------------------------------------------------


def _failure_label(node: MenuNode | InputNode, flow: Flow) -> str:
    invalid = node.max_invalid or flow.settings.max_invalid
    timeouts = node.max_timeouts or flow.settings.max_timeouts
    return f"after {invalid} invalid / {timeouts} silent"


def _edges(node_id: str, node: Node, flow: Flow) -> Iterator[DiagramEdge]:
    if isinstance(node, MenuNode):
        for key, option in node.options.items():
            label = option.label or ""
            if option.when is not None:  # offered only to some callers: say to whom
                label = f"{label} (if {option.when})" if label else f"if {option.when}"
            yield DiagramEdge(node_id, option.goto, "option", label, key=key, topic=option.topic)
        if node.on_failure is not None:
            yield DiagramEdge(node_id, node.on_failure, "failure", _failure_label(node, flow))
    elif isinstance(node, InputNode):
        yield DiagramEdge(
            node_id, node.next, "next", "confirmed" if node.confirm else "valid entry"
        )
        if node.on_failure is not None:
            yield DiagramEdge(node_id, node.on_failure, "failure", _failure_label(node, flow))
    elif isinstance(node, LookupNode):
        yield DiagramEdge(node_id, node.found, "result", "found")
        yield DiagramEdge(node_id, node.not_found, "result", "not found")
        yield DiagramEdge(node_id, node.unavailable or node.not_found, "result", "CRM down")
        if node.several is not None:
            yield DiagramEdge(node_id, node.several, "result", "several")
    elif isinstance(node, BranchNode):
        for case in node.cases:
            yield DiagramEdge(node_id, case.goto, "result", case.when)
        yield DiagramEdge(node_id, node.default, "result", "otherwise")
    elif isinstance(node, HoursNode):
        yield DiagramEdge(node_id, node.open, "result", "open")
        yield DiagramEdge(node_id, node.closed, "result", "closed")
        if node.holidays or node.holiday is not None:
            yield DiagramEdge(node_id, node.holiday or node.closed, "result", "holiday")
    elif isinstance(node, PlayNode):
        yield DiagramEdge(node_id, node.next, "next")
    elif isinstance(node, WaitNode):
        yield DiagramEdge(node_id, node.next, "next")
        if node.unknown is not None:
            yield DiagramEdge(node_id, node.unknown, "result", "no estimate")
    elif isinstance(node, CallbackNode):
        yield DiagramEdge(node_id, node.declined, "result", "no callback")
        if node.then is not None:
            yield DiagramEdge(node_id, node.then, "result", "callback booked")
    elif isinstance(node, OverflowNode):
        yield DiagramEdge(node_id, node.to, "result", "closed or full")
        yield DiagramEdge(node_id, node.next, "result", "room")
    elif isinstance(node, FloodNode):
        yield DiagramEdge(node_id, node.next, "result", "flood on")
        yield DiagramEdge(node_id, node.normal, "result", "flood off")
    elif isinstance(node, PinNode):
        yield DiagramEdge(node_id, node.verified, "result", "verified")
        yield DiagramEdge(node_id, node.failed, "failure", "not verified")
        yield DiagramEdge(node_id, node.no_pin or node.failed, "result", "no PIN")
        yield DiagramEdge(node_id, node.unavailable or node.failed, "result", "CRM down")
    elif isinstance(node, GotoNode):
        if node.flow is None and node.node is not None:
            yield DiagramEdge(node_id, node.node, "next")


def _merge(edges: list[DiagramEdge]) -> list[DiagramEdge]:
    """One arrow per (source, target) for results: `not found / CRM down` rather
    than two arrows on top of each other. Options keep one arrow per key: a key is
    what the caller presses and each one must be readable."""
    merged: list[DiagramEdge] = []
    index: dict[tuple[str, str], int] = {}
    for edge in edges:
        pair = (edge.source, edge.target)
        if edge.kind == "result" and pair in index:
            i = index[pair]
            first = merged[i]
            merged[i] = DiagramEdge(
                first.source, first.target, "result", f"{first.label} / {edge.label}"
            )
            continue
        if edge.kind == "result":
            index[pair] = len(merged)
        merged.append(edge)
    return merged


# --- legend -----------------------------------------------------------------------


def _legend(flow: Flow) -> tuple[str, ...]:
    s = flow.settings
    operator = (
        f"{_title(s.operator, flow.nodes[s.operator])} ({s.operator})"
        if s.operator is not None and s.operator in flow.nodes
        else (s.operator or f"queue {s.operator_queue}")
    )
    keys: list[str] = []
    if s.keys.operator is not None:
        keys.append(f"{s.keys.operator} → {operator}")
    if s.keys.back is not None:
        keys.append(f"{s.keys.back} → previous menu")
    if s.keys.repeat is not None:
        keys.append(f"{s.keys.repeat} → repeat the menu")
    lines: list[str] = []
    if keys:
        lines.append("In every menu: " + " · ".join(keys))
    give_up = (
        f"{s.max_invalid} invalid keys or {s.max_timeouts} silences in a menu → {operator}"
        ", unless an arrow says otherwise"
    )
    if s.agent_after_failures is not None:
        give_up += f"; {s.agent_after_failures} failures in the call → {operator}"
    lines.append(give_up)
    lines.append(
        f"Menus wait {describe_duration(s.timeout)}; a menu repeats at most {s.max_repeats} times"
        f" and a call takes at most {s.max_steps} steps before the operator."
    )
    for name, limit in (("depth", flow.limits.max_depth), ("options", flow.limits.max_options)):
        if limit is not None:
            lines.append(f"Limit raised: menu {name} {limit.value} ({limit.reason})")
    for node_id, node in flow.nodes.items():
        if isinstance(node, MenuNode) and node.limits is not None:
            raised = node.limits.max_options
            lines.append(f"Limit raised: menu {node_id} options {raised.value} ({raised.reason})")
    return tuple(lines)
