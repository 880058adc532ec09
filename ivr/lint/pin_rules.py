"""PIN checks that cannot work (`pin-unidentified`) and secrets compared in the flow
file (`secret-in-condition`); docs/dialplan.md, "Checking a PIN"."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from ivr.conditions import ConditionError, parse
from ivr.flow import BranchNode, InputNode, LookupNode, MenuNode, PinNode
from ivr.lint.callgraph import NodeRef
from ivr.lint.context import LintContext
from ivr.source import Finding, quote

__all__ = ["check_pin_identified", "check_secret_conditions"]


def _identified_pins(ctx: LintContext) -> set[NodeRef]:
    """The pin nodes some call reaches with a customer found: a walk over (node,
    identified) from every start, where a lookup's `found` identifies the caller."""
    graph = ctx.graph
    seen: set[tuple[NodeRef, bool]] = set()
    queue: deque[tuple[NodeRef, bool]] = deque((root, False) for root in graph.roots())
    while queue:
        state = queue.popleft()
        if state in seen:
            continue
        seen.add(state)
        ref, identified = state
        node = graph.node(ref)
        for edge in graph.edges(ref):
            if edge.target is None:
                continue
            found = isinstance(node, LookupNode) and edge.label == "found"
            queue.append((edge.target, identified or found))
    return {ref for ref, identified in seen if identified}


def check_pin_identified(ctx: LintContext) -> Iterator[Finding]:
    """pin-unidentified: a pin node checks the PIN of the customer a lookup found; one
    that no call reaches after a lookup's `found` sends every caller to `failed`."""
    identified: set[NodeRef] | None = None
    for loaded in ctx.flows():
        flow = loaded.model
        for node_id, node in flow.nodes.items():
            if not isinstance(node, PinNode):
                continue
            if identified is None:
                identified = _identified_pins(ctx)
            if (flow.id, node_id) not in identified:
                yield ctx.at_node(
                    "pin-unidentified",
                    (flow.id, node_id),
                    f"pin node {quote(node_id)} is reached by no call after a lookup found the "
                    f"caller: it has nobody's PIN to check and sends every caller to "
                    f"{quote(node.failed)}; put a lookup (by caller or account) before it",
                )


def _secrets(ctx: LintContext) -> set[str]:
    return {
        f"vars.{node.variable}"
        for flow in ctx.dialplan.flows.values()
        for node in flow.nodes.values()
        if isinstance(node, InputNode) and node.sensitive
    }


def check_secret_conditions(ctx: LintContext) -> Iterator[Finding]:
    """secret-in-condition: a condition that reads a sensitive entry compares a secret
    in the flow file, readable by anyone who can read the dialplan (and in git)."""
    secrets = _secrets(ctx)
    if not secrets:
        return
    for loaded in ctx.flows():
        flow = loaded.model
        for node_id, node in flow.nodes.items():
            conditions: list[tuple[tuple[str | int, ...], str]] = []
            if isinstance(node, BranchNode):
                conditions += [
                    (("nodes", node_id, "cases", i, "when"), case.when)
                    for i, case in enumerate(node.cases)
                ]
            elif isinstance(node, MenuNode):
                conditions += [
                    (("nodes", node_id, "options", key, "when"), option.when)
                    for key, option in node.conditional().items()
                    if option.when is not None
                ]
            for path, text in conditions:
                try:
                    names = parse(text).names
                except ConditionError:
                    continue  # bad-condition says so
                for name in sorted(set(names) & secrets):
                    yield ctx.at(
                        "secret-in-condition",
                        flow.id,
                        path,
                        f"{quote(node_id)} compares the sensitive entry {name} in the flow "
                        "file: anyone who reads the dialplan reads the secret; check a PIN "
                        "with a pin node, which asks the CRM",
                        value=True,
                    )
