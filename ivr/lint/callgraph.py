"""The graph a caller walks: every node of every flow, and where each can lead.

Nodes are `(flow id, node id)` so a `goto` into another flow is an ordinary edge and
depth, loops and reachability follow the caller across files. Each edge has a kind:

- `choice`: a menu option the caller picks;
- `next`: where a play, input or goto continues;
- `auto`: a decision the caller does not make (lookup found/not_found/unavailable,
  branch cases/default, hours open/closed/holiday);
- `failure`: where a menu or input goes when a counter runs out (`on_failure`; without
  one, the operator);
- `operator`: the global operator key of a menu, when it is on.

An edge whose target is None leaves the IVR for the operator queue (an agent).
Targets that name nothing are kept apart as `dangling` for the rule that reports them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from ivr.flow import (
    BranchNode,
    CallbackNode,
    FloodNode,
    Flow,
    GotoNode,
    HoursNode,
    InputNode,
    LookupNode,
    MenuNode,
    Node,
    OverflowNode,
    PinNode,
    PlayNode,
    WaitNode,
)

__all__ = ["CallGraph", "Dangling", "Edge", "EdgeKind", "NodeRef", "Target", "targets_of"]

NodeRef = tuple[str, str]
EdgeKind = Literal["choice", "next", "auto", "failure", "operator"]
FieldPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Target:
    """A field of a node that names where the call goes next."""

    field: FieldPath
    """Path of the field in the flow file, e.g. ("nodes", "m", "options", "1", "goto")."""
    kind: EdgeKind
    label: str
    """How an admin calls this field: "option 1", "next", "found", "case 2"..."""
    node: str | None
    flow: str | None = None
    """Another flow (goto); None is the flow the node is in."""


@dataclass(frozen=True, slots=True)
class Edge:
    source: NodeRef
    target: NodeRef | None
    kind: EdgeKind
    label: str
    implicit: bool = False
    """Not written in the file: the default failure path, the operator key."""


@dataclass(frozen=True, slots=True)
class Dangling:
    flow: str
    node: str | None
    """The node holding the target (None for the flow's entry or settings.operator)."""
    target: Target
    reason: Literal["node", "flow", "flow-node"]


def targets_of(node_id: str, node: Node) -> list[Target]:
    """Every target field a node writes, in file order."""
    base: FieldPath = ("nodes", node_id)
    out: list[Target] = []
    if isinstance(node, MenuNode):
        for key, option in node.options.items():
            out.append(
                Target((*base, "options", key, "goto"), "choice", f"option {key}", option.goto)
            )
    elif isinstance(node, InputNode | PlayNode):
        out.append(Target((*base, "next"), "next", "next", node.next))
    elif isinstance(node, LookupNode):
        out.append(Target((*base, "found"), "auto", "found", node.found))
        out.append(Target((*base, "not_found"), "auto", "not_found", node.not_found))
        if node.unavailable is not None:
            out.append(Target((*base, "unavailable"), "auto", "unavailable", node.unavailable))
        if node.several is not None:
            out.append(Target((*base, "several"), "auto", "several", node.several))
    elif isinstance(node, BranchNode):
        for index, case in enumerate(node.cases):
            out.append(
                Target((*base, "cases", index, "goto"), "auto", f"case {index + 1}", case.goto)
            )
        out.append(Target((*base, "default"), "auto", "default", node.default))
    elif isinstance(node, HoursNode):
        out.append(Target((*base, "open"), "auto", "open", node.open))
        out.append(Target((*base, "closed"), "auto", "closed", node.closed))
        if node.holiday is not None:
            out.append(Target((*base, "holiday"), "auto", "holiday", node.holiday))
    elif isinstance(node, WaitNode):
        out.append(Target((*base, "next"), "next", "next", node.next))
        if node.unknown is not None:
            out.append(Target((*base, "unknown"), "auto", "no estimate", node.unknown))
    elif isinstance(node, CallbackNode):
        out.append(Target((*base, "declined"), "auto", "no callback", node.declined))
        if node.then is not None:
            out.append(Target((*base, "then"), "next", "callback booked", node.then))
    elif isinstance(node, OverflowNode):
        out.append(Target((*base, "to"), "auto", "overflow", node.to))
        out.append(Target((*base, "next"), "auto", "room", node.next))
    elif isinstance(node, FloodNode):
        out.append(Target((*base, "next"), "auto", "flood on", node.next))
        out.append(Target((*base, "normal"), "auto", "flood off", node.normal))
    elif isinstance(node, PinNode):
        out.append(Target((*base, "verified"), "auto", "verified", node.verified))
        out.append(Target((*base, "failed"), "failure", "failed", node.failed))
        if node.no_pin is not None:
            out.append(Target((*base, "no_pin"), "auto", "no_pin", node.no_pin))
        if node.unavailable is not None:
            out.append(Target((*base, "unavailable"), "auto", "unavailable", node.unavailable))
    elif isinstance(node, GotoNode):
        field = (*base, "node") if node.node is not None else (*base, "flow")
        out.append(Target(field, "next", "goto", node.node, node.flow))
    if isinstance(node, MenuNode | InputNode) and node.on_failure is not None:
        out.append(Target((*base, "on_failure"), "failure", "on_failure", node.on_failure))
    return out


class CallGraph:
    """All flows of a dialplan as one graph. `present` names every flow file that
    exists, loaded or not, so a goto into a broken flow is not called dangling."""

    def __init__(self, flows: Mapping[str, Flow], present: Iterable[str] = ()) -> None:
        self.flows = flows
        self.present = frozenset(present) | frozenset(flows)
        self.dangling: list[Dangling] = []
        self._edges: dict[NodeRef, list[Edge]] = {}
        for flow_id, flow in flows.items():
            self._check_flow_fields(flow_id, flow)
            for node_id, node in flow.nodes.items():
                self._edges[(flow_id, node_id)] = self._build(flow_id, flow, node_id, node)

    def _check_flow_fields(self, flow_id: str, flow: Flow) -> None:
        if flow.entry not in flow.nodes:
            self.dangling.append(
                Dangling(flow_id, None, Target(("entry",), "next", "entry", flow.entry), "node")
            )
        operator = flow.settings.operator
        if operator is not None and operator not in flow.nodes:
            target = Target(("settings", "operator"), "operator", "settings.operator", operator)
            self.dangling.append(Dangling(flow_id, None, target, "node"))

    def operator_target(self, flow_id: str) -> NodeRef | None:
        """Where the operator key and default failures of a flow lead (None: the queue)."""
        operator = self.flows[flow_id].settings.operator
        if operator is None or operator not in self.flows[flow_id].nodes:
            return None
        return (flow_id, operator)

    def _build(self, flow_id: str, flow: Flow, node_id: str, node: Node) -> list[Edge]:
        source = (flow_id, node_id)
        edges: list[Edge] = []
        for target in targets_of(node_id, node):
            resolved = self._resolve(flow_id, node_id, target)
            if resolved is not None:
                edges.append(Edge(source, resolved, target.kind, target.label))
        if isinstance(node, MenuNode | InputNode) and node.on_failure is None:
            edges.append(
                Edge(source, self.operator_target(flow_id), "failure", "operator", implicit=True)
            )
        if isinstance(node, MenuNode) and flow.settings.keys.operator is not None:
            key = flow.settings.keys.operator
            edges.append(
                Edge(source, self.operator_target(flow_id), "operator", f"key {key}", implicit=True)
            )
        return edges

    def _resolve(self, flow_id: str, node_id: str, target: Target) -> NodeRef | None:
        other = target.flow or flow_id
        if other not in self.flows:
            if other not in self.present:
                self.dangling.append(Dangling(flow_id, node_id, target, "flow"))
            return None
        flow = self.flows[other]
        name = target.node if target.node is not None else flow.entry
        if name not in flow.nodes:
            # A missing entry of another flow is that flow's own finding.
            if target.node is not None:
                reason: Literal["node", "flow-node"] = "node" if other == flow_id else "flow-node"
                self.dangling.append(Dangling(flow_id, node_id, target, reason))
            return None
        return (other, name)

    def node(self, ref: NodeRef) -> Node:
        return self.flows[ref[0]].nodes[ref[1]]

    def nodes(self) -> Iterator[NodeRef]:
        return iter(self._edges)

    def edges(self, ref: NodeRef) -> list[Edge]:
        return self._edges.get(ref, [])

    def entry(self, flow_id: str) -> NodeRef | None:
        flow = self.flows.get(flow_id)
        if flow is None or flow.entry not in flow.nodes:
            return None
        return (flow_id, flow.entry)

    def reachable(
        self, roots: Iterable[NodeRef], kinds: frozenset[EdgeKind] | None = None
    ) -> dict[NodeRef, NodeRef | None]:
        """Nodes reachable from `roots` (through edges of `kinds`, all if None),
        each with the node it was first reached from (breadth first: shortest paths)."""
        seen: dict[NodeRef, NodeRef | None] = {}
        queue: deque[NodeRef] = deque()
        for root in roots:
            if root not in seen and root in self._edges:
                seen[root] = None
                queue.append(root)
        while queue:
            ref = queue.popleft()
            for edge in self._edges[ref]:
                if edge.target is None or edge.target in seen:
                    continue
                if kinds is not None and edge.kind not in kinds:
                    continue
                seen[edge.target] = ref
                queue.append(edge.target)
        return seen

    def roots(self) -> list[NodeRef]:
        """Where calls can start: every flow's entry (Asterisk may name any flow) and
        every operator node."""
        out: list[NodeRef] = []
        for flow_id in self.flows:
            entry = self.entry(flow_id)
            if entry is not None:
                out.append(entry)
            operator = self.operator_target(flow_id)
            if operator is not None:
                out.append(operator)
        return out
