"""Post-call surveys (docs/dialplan.md, "Post-call surveys"): a transfer names a survey
its flow defines (`unknown-survey`), on a queue (`survey-not-queue`), of at most 5
questions (`survey-questions`); a survey nobody names is dead text (`unused-survey`).

A survey is no menu: it adds no level and no choice to the 4x4 tree, so the shape rules
(`menu-depth`, `menu-options`) neither count nor skip it."""

from __future__ import annotations

from collections.abc import Iterator

from ivr.flow import MAX_SURVEY_QUESTIONS, TransferNode
from ivr.lint.context import LintContext
from ivr.source import Finding, quote

__all__ = ["check_surveys"]


def check_surveys(ctx: LintContext) -> Iterator[Finding]:
    for loaded in ctx.flows():
        flow = loaded.model
        named: set[str] = set()
        for node_id, node in flow.nodes.items():
            if not isinstance(node, TransferNode) or node.survey is None:
                continue
            named.add(node.survey)
            where = ("nodes", node_id, "survey")
            if node.survey not in flow.surveys:
                known = ", ".join(sorted(flow.surveys)) or "none"
                yield ctx.at(
                    "unknown-survey",
                    flow.id,
                    where,
                    f"transfer {quote(node_id)} names survey {quote(node.survey)}, which this "
                    f"flow's surveys: does not define (defined: {known})",
                    value=True,
                )
            if node.kind != "queue":
                yield ctx.at(
                    "survey-not-queue",
                    flow.id,
                    where,
                    f"transfer {quote(node_id)} goes to {node.kind} {quote(node.target)}: a "
                    "survey follows a queue call only (the caller stays on the line when the "
                    "agent hangs up)",
                )
        for name, survey in flow.surveys.items():
            if len(survey.questions) > MAX_SURVEY_QUESTIONS:
                yield ctx.at(
                    "survey-questions",
                    flow.id,
                    ("surveys", name, "questions"),
                    f"survey {quote(name)} asks {len(survey.questions)} questions: at most "
                    f"{MAX_SURVEY_QUESTIONS}, callers hang up on long surveys",
                )
            if name not in named:
                yield ctx.at(
                    "unused-survey",
                    flow.id,
                    ("surveys", name),
                    f"survey {quote(name)} is named by no transfer of this flow: no caller "
                    "hears it",
                )
