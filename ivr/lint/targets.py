"""Targets that lead nowhere, and nodes nothing leads to."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from ivr.flow import GotoNode
from ivr.lint.callgraph import NodeRef
from ivr.lint.context import LintContext
from ivr.source import Finding, quote

__all__ = ["check_dangling_targets", "check_unreachable_nodes"]


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {quote(close[0])}?)" if close else ""


def check_dangling_targets(ctx: LintContext) -> Iterator[Finding]:
    """dangling-target: every target names an existing node, in an existing flow."""
    graph = ctx.graph
    for dangling in graph.dangling:
        if dangling.flow not in ctx.checked:
            continue
        target = dangling.target
        flow = graph.flows[dangling.flow]
        holder = f" of {quote(dangling.node)}" if dangling.node is not None else ""
        name = target.node or ""
        if dangling.reason == "flow":
            other = target.flow or ""
            field = (*target.field[:-1], "flow")
            message = (
                f"goto{holder} names flow {quote(other)}, but there is no "
                f"{ctx.dialplan.flows_dir / (other + '.yaml')}"
                f"{_did_you_mean(other, graph.present)}"
            )
            yield ctx.at("dangling-target", dangling.flow, field, message, value=True)
            continue
        if dangling.reason == "flow-node":
            other = target.flow or ""
            message = (
                f"goto{holder} names node {quote(name)} of flow {quote(other)}, which has no such node"
                f"{_did_you_mean(name, graph.flows[other].nodes)}"
            )
        else:
            message = (
                f"{target.label}{holder} goes to {quote(name)}, which is not a node of this flow"
                f"{_did_you_mean(name, flow.nodes)}"
            )
        yield ctx.at("dangling-target", dangling.flow, target.field, message, value=True)


def _roots(ctx: LintContext, flow_id: str) -> list[NodeRef]:
    graph = ctx.graph
    roots: list[NodeRef] = []
    entry = graph.entry(flow_id)
    if entry is not None:
        roots.append(entry)
    operator = graph.operator_target(flow_id)
    if operator is not None:
        roots.append(operator)
    # Nodes other flows jump to by name are entries too.
    for other_id, other in graph.flows.items():
        for node in other.nodes.values():
            if isinstance(node, GotoNode) and node.flow == flow_id and other_id != flow_id:
                if node.node is not None and node.node in graph.flows[flow_id].nodes:
                    roots.append((flow_id, node.node))
    return roots


def check_unreachable_nodes(ctx: LintContext) -> Iterator[Finding]:
    """unreachable-node: every node can be reached from the entry (or the operator
    node, or a goto of another flow)."""
    graph = ctx.graph
    for loaded in ctx.flows():
        flow_id = loaded.model.id
        reached = graph.reachable(_roots(ctx, flow_id))
        for node_id in loaded.model.nodes:
            if (flow_id, node_id) not in reached:
                message = (
                    f"node {quote(node_id)} is never reached: nothing leads to it from the entry "
                    f"{quote(loaded.model.entry)}; link it from a menu or delete it"
                )
                yield ctx.at_node("unreachable-node", (flow_id, node_id), message)
