"""Flows and the other dialplan files agree: queues exist, topics have scripts,
scripts suggest real disposition codes. Each check runs only when the file it
compares against is present and loaded."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from ivr.catalog import ScriptStep
from ivr.conditions import ConditionError, parse
from ivr.flow import BranchNode, CallbackNode, MenuNode, OverflowNode, TransferNode, WaitNode
from ivr.lint.context import LintContext, walk
from ivr.lint.rules import finding
from ivr.source import Finding, PathPart, quote

__all__ = ["check_unknown_dispositions", "check_unknown_queues", "check_unknown_topics"]


def _hint(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {quote(close[0])}?)" if close else ""


def check_unknown_queues(ctx: LintContext) -> Iterator[Finding]:
    """unknown-queue: transfers and operator queues name queues of queues.yaml."""
    catalog = ctx.dialplan.queues
    if catalog is None:
        return
    queues = catalog.model.queues
    if "queues.yaml" in ctx.check_catalog and catalog.model.operator not in queues:
        message = f"the operator queue {quote(catalog.model.operator)} is not one of the queues below{_hint(catalog.model.operator, queues)}"
        yield finding("unknown-queue", catalog.file, catalog.source.value_of("operator"), message)
    for loaded in ctx.flows():
        flow = loaded.model
        operator_queue = flow.settings.operator_queue
        if operator_queue not in queues:
            written = loaded.source.find("settings", "operator_queue") is not None
            where = "settings.operator_queue" if written else "settings.operator_queue (by default)"
            message = (
                f"{where} {quote(operator_queue)} is not in queues.yaml{_hint(operator_queue, queues)}; "
                "callers who give up or press the operator key would reach no queue"
            )
            yield ctx.at(
                "unknown-queue", flow.id, ("settings", "operator_queue"), message, value=written
            )
        for node_id, node in flow.nodes.items():
            if (
                isinstance(node, TransferNode)
                and node.queue is not None
                and node.queue not in queues
            ):
                message = f"transfer {quote(node_id)} joins queue {quote(node.queue)}, which queues.yaml does not define{_hint(node.queue, queues)}"
                yield ctx.at(
                    "unknown-queue", flow.id, ("nodes", node_id, "queue"), message, value=True
                )
            if (
                isinstance(node, WaitNode | CallbackNode | OverflowNode)
                and node.queue not in queues
            ):
                message = f"{node.type} {quote(node_id)} reads the state of queue {quote(node.queue)}, which queues.yaml does not define{_hint(node.queue, queues)}"
                yield ctx.at(
                    "unknown-queue", flow.id, ("nodes", node_id, "queue"), message, value=True
                )
            if isinstance(node, BranchNode):
                for index, case in enumerate(node.cases):
                    try:
                        named = parse(case.when).queues
                    except ConditionError:
                        continue  # bad-condition says why
                    for queue in named:
                        if queue not in queues:
                            message = f"branch {quote(node_id)} reads the state of queue {quote(queue)}, which queues.yaml does not define{_hint(queue, queues)}"
                            yield ctx.at(
                                "unknown-queue",
                                flow.id,
                                ("nodes", node_id, "cases", index, "when"),
                                message,
                                value=True,
                            )


def check_unknown_topics(ctx: LintContext) -> Iterator[Finding]:
    """unknown-topic: every topic a flow or a disposition names has a script."""
    scripts = ctx.dialplan.scripts
    if scripts is None:
        return
    known = scripts.model.scripts
    default = scripts.model.default
    if "scripts.yaml" in ctx.check_catalog and default is not None and default not in known:
        message = f"the default script {quote(default)} is not one of the scripts below{_hint(default, known)}"
        yield finding("unknown-topic", scripts.file, scripts.source.value_of("default"), message)
    dispositions = ctx.dialplan.dispositions
    if dispositions is not None and "dispositions.yaml" in ctx.check_catalog:
        for code, disposition in dispositions.model.dispositions.items():
            for index, topic in enumerate(disposition.topics):
                if topic not in known:
                    message = f"disposition {quote(code)} is for topic {quote(topic)}, which has no script in scripts.yaml{_hint(topic, known)}"
                    position = dispositions.source.value_of("dispositions", code, "topics", index)
                    yield finding("unknown-topic", dispositions.file, position, message)
    for loaded in ctx.flows():
        flow = loaded.model
        for node_id, node in flow.nodes.items():
            uses: list[tuple[tuple[PathPart, ...], str | None]] = []
            if isinstance(node, MenuNode):
                uses.append((("nodes", node_id, "topic"), node.topic))
                uses += [
                    (("nodes", node_id, "options", key, "topic"), o.topic)
                    for key, o in node.options.items()
                ]
            elif isinstance(node, TransferNode):
                uses.append((("nodes", node_id, "topic"), node.topic))
            for path, used in uses:
                if used is not None and used not in known:
                    message = (
                        f"topic {quote(used)} has no script in scripts.yaml{_hint(used, known)}; "
                        "the agent taking this call gets no script"
                    )
                    yield ctx.at("unknown-topic", flow.id, path, message, value=True)


def check_unknown_dispositions(ctx: LintContext) -> Iterator[Finding]:
    """unknown-disposition: every disposition a script step suggests is defined."""
    scripts = ctx.dialplan.scripts
    dispositions = ctx.dialplan.dispositions
    if scripts is None or dispositions is None or "scripts.yaml" not in ctx.check_catalog:
        return
    codes = dispositions.model.dispositions
    for path, value in walk(scripts.model):
        if (
            isinstance(value, ScriptStep)
            and value.disposition is not None
            and value.disposition not in codes
        ):
            message = f"step suggests disposition {quote(value.disposition)}, which dispositions.yaml does not define{_hint(value.disposition, codes)}"
            yield finding(
                "unknown-disposition",
                scripts.file,
                scripts.source.value_of(*path, "disposition"),
                message,
            )
