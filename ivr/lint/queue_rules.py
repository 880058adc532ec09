"""Busy-queue nodes whose numbers make no sense (`queue-threshold`) and flood nodes that
cannot say a message the others can (`flood-message`); docs/dialplan.md, "Busy queues
and floods"."""

from __future__ import annotations

from collections.abc import Iterator

from ivr.flow import CallbackNode, FloodNode, OverflowNode
from ivr.graph.model import describe_duration
from ivr.lint.context import LintContext
from ivr.source import Finding, quote

__all__ = ["check_flood_messages", "check_queue_thresholds"]

# An estimate under a minute is "less than a minute": a callback offered below it is
# offered to callers an agent is about to answer. Past two hours the estimate is
# beyond what callers hold for: a callback offered only then is offered to nobody.
_OFFER_MIN_MS = 60_000
_OFFER_MAX_MS = 2 * 3600_000


def check_queue_thresholds(ctx: LintContext) -> Iterator[Finding]:
    for loaded in ctx.flows():
        flow = loaded.model
        for node_id, node in flow.nodes.items():
            here = ("nodes", node_id)
            if isinstance(node, CallbackNode):
                if node.offer_above < _OFFER_MIN_MS:
                    yield ctx.at(
                        "queue-threshold",
                        flow.id,
                        (*here, "offer_above"),
                        f"callback {quote(node_id)} is offered above {describe_duration(node.offer_above)}: "
                        "to callers an agent is about to answer; offer it above a few minutes",
                        value=True,
                    )
                elif node.offer_above > _OFFER_MAX_MS:
                    yield ctx.at(
                        "queue-threshold",
                        flow.id,
                        (*here, "offer_above"),
                        f"callback {quote(node_id)} is offered only above {describe_duration(node.offer_above)}: "
                        "callers hang up long before; offer it sooner",
                        value=True,
                    )
            if isinstance(node, OverflowNode):
                if node.max_wait is not None and node.max_wait < _OFFER_MIN_MS:
                    yield ctx.at(
                        "queue-threshold",
                        flow.id,
                        (*here, "max_wait"),
                        f"overflow {quote(node_id)} fires above {describe_duration(node.max_wait)} of estimated wait: "
                        "nearly every caller of a busy queue overflows",
                        value=True,
                    )
                after = flow.nodes.get(node.next)
                if (
                    isinstance(after, CallbackNode)
                    and after.queue == node.queue
                    and node.max_wait is not None
                    and node.max_wait <= after.offer_above
                ):
                    yield ctx.at(
                        "queue-threshold",
                        flow.id,
                        (*here, "max_wait"),
                        f"overflow {quote(node_id)} sends callers away above {describe_duration(node.max_wait)}, "
                        f"so callback {quote(node.next)} (offered above {describe_duration(after.offer_above)}) "
                        "is never offered: lower offer_above or raise max_wait",
                        value=True,
                    )


def check_flood_messages(ctx: LintContext) -> Iterator[Finding]:
    nodes = [
        (flow_id, node_id, node)
        for flow_id, flow in sorted(ctx.dialplan.flows.items())
        for node_id, node in flow.nodes.items()
        if isinstance(node, FloodNode)
    ]
    every = sorted({message for _, _, node in nodes for message in node.messages})
    for flow_id, node_id, node in nodes:
        if flow_id not in ctx.checked:
            continue
        for message in every:
            if message not in node.messages:
                yield ctx.at(
                    "flood-message",
                    flow_id,
                    ("nodes", node_id, "messages"),
                    f"flood {quote(node_id)} has no prompt for message {quote(message)}, which another "
                    "flood node has: while it is on, callers here hear nothing about it",
                )
