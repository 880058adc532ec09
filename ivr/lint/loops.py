"""Callers who go round in circles, and menus with no way to a person.

`max_steps` bounds every call, so no loop runs forever; but a caller who hears the
same announcement until the step limit cuts in has been failed all the same. A loop
is a trap when:

- nobody is asked anything in it (no menu, no input) and nothing in it can change
  from one round to the next (no lookup, no hours check): whoever goes round once
  goes round until `max_steps`, whatever exits the branches have;
- or nothing leads out of it at all: no option, failure path, operator key or back
  key takes the caller elsewhere.

Menus always have a way out while the operator key is on, and a menu or input
without `on_failure` sends a failing caller to the operator; a caller who came
through a menu outside the loop can press `back` to return there.
"""

from __future__ import annotations

from collections.abc import Iterator

from ivr.flow import (
    CallbackNode,
    FloodNode,
    HoursNode,
    InputNode,
    LookupNode,
    MenuNode,
    OverflowNode,
    TransferNode,
)
from ivr.lint.callgraph import CallGraph, EdgeKind, NodeRef
from ivr.lint.context import LintContext
from ivr.source import Finding, quote

__all__ = ["check_no_agent_path", "check_no_exit_loop", "strongly_connected"]


def _successors(graph: CallGraph, ref: NodeRef) -> list[NodeRef]:
    return list(dict.fromkeys(e.target for e in graph.edges(ref) if e.target is not None))


def strongly_connected(graph: CallGraph) -> list[list[NodeRef]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[NodeRef, int] = {}
    low: dict[NodeRef, int] = {}
    on_stack: set[NodeRef] = set()
    stack: list[NodeRef] = []
    components: list[list[NodeRef]] = []
    for start in graph.nodes():
        if start in index:
            continue
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        work = [(start, iter(_successors(graph, start)))]
        while work:
            ref, successors = work[-1]
            for target in successors:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(_successors(graph, target))))
                    break
                if target in on_stack:
                    low[ref] = min(low[ref], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[ref])
                if low[ref] == index[ref]:
                    component: list[NodeRef] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == ref:
                            break
                    components.append(component)
    return components


def _is_cycle(graph: CallGraph, component: list[NodeRef]) -> bool:
    if len(component) > 1:
        return True
    only = component[0]
    return any(edge.target == only for edge in graph.edges(only))


def _back_escape(graph: CallGraph, members: set[NodeRef]) -> bool:
    """Can `back` lead out? Only if a menu outside the loop leads into it: the caller
    may have come through that menu, and back returns there."""
    if not any(
        isinstance(graph.node(ref), MenuNode) and graph.flows[ref[0]].settings.keys.back is not None
        for ref in members
    ):
        return False
    into: dict[NodeRef, list[NodeRef]] = {}
    for ref in graph.nodes():
        for target in _successors(graph, ref):
            into.setdefault(target, []).append(ref)
    seen = set(members)
    todo = list(members)
    while todo:
        for source in into.get(todo.pop(), []):
            if source in seen:
                continue
            if isinstance(graph.node(source), MenuNode):
                return True
            seen.add(source)
            todo.append(source)
    return False


def _trap(graph: CallGraph, members: set[NodeRef]) -> str | None:
    """Why the loop traps a caller, or None if it does not."""
    listening = any(isinstance(graph.node(r), MenuNode | InputNode) for r in members)
    exits = any(
        edge.target is None or edge.target not in members
        for ref in members
        for edge in graph.edges(ref)
    )
    if not listening:
        # Nodes that read the world afresh each round: the CRM, the clock, queue state,
        # the flood switch.
        reads = LookupNode | HoursNode | OverflowNode | CallbackNode | FloodNode
        changes = any(isinstance(graph.node(r), reads) for r in members)
        if not exits:
            return "with nothing for the caller to press and no way out"
        if not changes:
            return (
                "without asking the caller anything, and nothing in it changes between "
                "rounds: a caller who goes round once goes round until max_steps; put a "
                "menu in the loop or lead a branch out of it"
            )
        return None
    if exits or _back_escape(graph, members):
        return None
    return (
        "with no way out: no option, failure path, operator key or back key leads out "
        "of it; add an option that leaves, or turn the operator key on"
    )


def check_no_exit_loop(ctx: LintContext) -> Iterator[Finding]:
    """no-exit-loop: no loop a caller cannot leave, or can leave only by chance."""
    graph = ctx.graph
    reachable = graph.reachable(graph.roots())
    for component in strongly_connected(graph):
        if not _is_cycle(graph, component) or not any(r in reachable for r in component):
            continue
        members = set(component)
        why = _trap(graph, members)
        if why is None:
            continue
        mine = [r for r in component if r[0] in ctx.checked]
        if not mine:
            continue
        ordered = sorted(mine, key=lambda r: ctx.node_position(r))
        others = sorted(r for r in component if r[0] not in ctx.checked)
        names = ", ".join(quote(r[1]) for r in ordered) + "".join(
            f", {quote(f'{r[0]}:{r[1]}')}" for r in others
        )
        noun = "node" if len(component) == 1 else "nodes"
        verb = "loops" if len(component) == 1 else "form a loop"
        yield ctx.at_node("no-exit-loop", ordered[0], f"{noun} {names} {verb} {why}")


_TO_PERSON: frozenset[EdgeKind] = frozenset({"choice", "next", "auto", "operator"})


def _reaches_person(graph: CallGraph, start: NodeRef) -> bool:
    seen = {start}
    todo = [start]
    while todo:
        ref = todo.pop()
        if isinstance(graph.node(ref), TransferNode):
            return True
        for edge in graph.edges(ref):
            if edge.kind not in _TO_PERSON:
                continue
            if edge.target is None:
                return True  # the operator queue
            if edge.target not in seen:
                seen.add(edge.target)
                todo.append(edge.target)
    return False


def check_no_agent_path(ctx: LintContext) -> Iterator[Finding]:
    """no-agent-path: from every menu, some key leads to a person. Failing on purpose
    (the failure path) does not count as a way."""
    graph = ctx.graph
    for loaded in ctx.flows():
        flow = loaded.model
        for node_id, node in flow.nodes.items():
            if not isinstance(node, MenuNode) or _reaches_person(graph, (flow.id, node_id)):
                continue
            if flow.settings.keys.operator is None:
                hint = "and the operator key is off (settings.keys.operator: null)"
            else:
                hint = f"and the operator key leads to {quote(flow.settings.operator)}, which transfers to nobody"
            message = (
                f"menu {quote(node_id)} has no way to a person: no choice leads to a transfer "
                f"{hint}; add a choice that transfers to a queue"
            )
            yield ctx.at_node("no-agent-path", (flow.id, node_id), message)
