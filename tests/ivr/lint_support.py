"""Helpers for the lint tests: write a small dialplan, lint it, find the findings.

Flows are YAML text, as an admin writes them, so each test shows the file it is
about; positions are asserted against the line where the test's text has the thing.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from ivr.lint import Finding, lint_paths

TRANSFER = "{type: transfer, queue: billing}"


def write_dialplan(root: Path, flows: dict[str, str], **catalog: str) -> Path:
    """`root/flows/NAME.yaml` for each flow, `root/NAME.yaml` for each catalog file."""
    (root / "flows").mkdir(parents=True, exist_ok=True)
    for name, text in flows.items():
        (root / "flows" / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    for name, text in catalog.items():
        (root / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def lint(
    root: Path, flows: dict[str, str], *, sounds: Path | None = None, **catalog: str
) -> list[Finding]:
    """Every finding of a dialplan folder made of `flows` (and catalog files)."""
    write_dialplan(root, flows, **catalog)
    return list(lint_paths([root], sounds=sounds).findings)


def of_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the `occurrence`-th line of dedented `text` containing `needle`."""
    seen = 0
    for number, line in enumerate(textwrap.dedent(text).splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} is not in the text")


def column_of(text: str, needle: str) -> int:
    """The 1-based column where `needle` starts on its first line."""
    for line in textwrap.dedent(text).splitlines():
        if needle in line:
            return line.index(needle) + 1
    raise AssertionError(f"{needle!r} is not in the text")
