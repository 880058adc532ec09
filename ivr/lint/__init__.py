"""`callpop lint`: whole-dialplan checks, each a rule with an id and an explanation.

The loader (`ivr.loader`) rejects what cannot become a model at all (bad YAML,
duplicate keys, unknown fields, wrong types); the rules here judge what loaded: the
4x4 rule, dangling targets, loops, keys, time ranges, conditions, schedules, the
queues, topics and dispositions of the other dialplan files, and (with a sounds
folder) missing recordings. `RULES` lists them all, loader ids included.

    report = lint_paths(["dialplan/"])
    for finding in report.findings:
        print(finding.format())   # FILE:LINE:COL: error|warning: MESSAGE [rule-id]
"""

from ivr.lint.rules import RULES, Rule
from ivr.lint.run import CHECKS, LintReport, check_dialplan, lint_dialplan, lint_flows, lint_paths
from ivr.source import Finding, Position

__all__ = [
    "CHECKS",
    "RULES",
    "Finding",
    "LintReport",
    "Position",
    "Rule",
    "check_dialplan",
    "lint_dialplan",
    "lint_flows",
    "lint_paths",
]
