"""Branch conditions that parse, and variables that something stores.

Conditions are parsed with the engine's own parser (`ivr.conditions`), and a syntax
error points at the character where it is, not just at the line. Variables (`vars.X`
in conditions and prompt templates, the `variable` of a lookup by account) are what
input nodes store, in this flow or any flow of the dialplan (a goto keeps the call's
variables); a name nothing stores is always empty, which is always a typo.
"""

from __future__ import annotations

from collections.abc import Iterator

from ivr.conditions import ConditionError, parse
from ivr.flow import BranchNode, InputNode, LookupNode, MenuNode, Prompt
from ivr.lint.context import LintContext, walk
from ivr.source import Finding, quote
from ivr.templates import placeholders

__all__ = ["check_bad_conditions", "check_unknown_variables"]


def check_bad_conditions(ctx: LintContext) -> Iterator[Finding]:
    """bad-condition: every `when:` of every branch and of every menu option parses."""
    for loaded in ctx.flows():
        flow = loaded.model
        for node_id, node in flow.nodes.items():
            if isinstance(node, MenuNode):
                for key, option in node.conditional().items():
                    assert option.when is not None
                    try:
                        parse(option.when)
                    except ConditionError as exc:
                        path: tuple[str | int, ...] = ("nodes", node_id, "options", key, "when")
                        position = loaded.source.at_offset(path, exc.offset)
                        message = f"option {key} of menu {quote(node_id)}: {exc.message} in {quote(option.when, 80)}"
                        yield ctx.finding_at("bad-condition", flow.id, position, message)
            if not isinstance(node, BranchNode):
                continue
            for index, case in enumerate(node.cases):
                try:
                    parse(case.when)
                except ConditionError as exc:
                    path = ("nodes", node_id, "cases", index, "when")
                    position = loaded.source.at_offset(path, exc.offset)
                    message = f"case {index + 1} of branch {quote(node_id)}: {exc.message} in {quote(case.when, 80)}"
                    yield ctx.finding_at("bad-condition", flow.id, position, message)


def _stored(ctx: LintContext) -> set[str]:
    return {
        node.variable
        for flow in ctx.dialplan.flows.values()
        for node in flow.nodes.values()
        if isinstance(node, InputNode)
    }


def _known(stored: set[str]) -> str:
    return (
        f"input nodes store {', '.join(sorted(stored))}"
        if stored
        else "no input node stores any variable"
    )


def check_unknown_variables(ctx: LintContext) -> Iterator[Finding]:
    """unknown-variable: lookups, conditions and prompt templates read stored variables."""
    stored = _stored(ctx)
    for loaded in ctx.flows():
        flow = loaded.model
        for node_id, node in flow.nodes.items():
            if (
                isinstance(node, LookupNode)
                and node.variable is not None
                and node.variable not in stored
            ):
                message = (
                    f"lookup {quote(node_id)} looks up {quote(node.variable)}, which nothing stores "
                    f"({_known(stored)}); the lookup would always find nobody"
                )
                yield ctx.at(
                    "unknown-variable", flow.id, ("nodes", node_id, "variable"), message, value=True
                )
            conditions: list[tuple[str, str, tuple[str | int, ...]]] = []
            if isinstance(node, BranchNode):
                for index, case in enumerate(node.cases):
                    what = f"case {index + 1} of branch {quote(node_id)}"
                    conditions.append((what, case.when, ("nodes", node_id, "cases", index, "when")))
            if isinstance(node, MenuNode):
                for key, option in node.conditional().items():
                    assert option.when is not None
                    what = f"option {key} of menu {quote(node_id)}"
                    conditions.append(
                        (what, option.when, ("nodes", node_id, "options", key, "when"))
                    )
            for what, text, when in conditions:
                try:
                    names = parse(text).names
                except ConditionError:
                    continue  # bad-condition says why
                for name in sorted(names):
                    root, _, variable = name.partition(".")
                    if root == "vars" and variable not in stored:
                        message = f"{what} reads {quote(name)}, which nothing stores ({_known(stored)}); it is always null"
                        yield ctx.at("unknown-variable", flow.id, when, message, value=True)
        for path, value in walk(flow):
            if not isinstance(value, Prompt):
                continue
            for template in (value.digits, value.number):
                for name in placeholders(template or ""):
                    root, _, variable = name.partition(".")
                    if root == "vars" and variable not in stored:
                        message = f"prompt reads {quote(name)}, which nothing stores ({_known(stored)}); it says nothing"
                        yield ctx.at("unknown-variable", flow.id, path, message)
