"""The report: markdown (tables, the machine, the exact commands) and JSON.

Every number in the markdown comes from the JSON written beside it in the same run;
`write` never merges with an earlier run, so a table can never show a peer's row from
another day beside callpop's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Report", "Section", "Table", "markdown", "write"]


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)


@dataclass
class Section:
    key: str
    title: str
    intro: str
    tables: list[Table]
    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    mode: str  # "quick" or "full"
    started_at: str
    seconds: float
    machine: dict[str, Any]
    commands: list[str]
    background: str  # what else ran on the machine meanwhile
    sections: list[Section]
    summary: Table | None = None
    findings: str = ""  # profiling results and what was changed (markdown)
    errors: list[str] = field(default_factory=list)


def _cell(value: Any) -> str:
    text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(table: Table) -> list[str]:
    lines = [f"**{table.title}**", ""] if table.title else []
    lines.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
    lines.append("|" + "|".join(" --- " for _ in table.columns) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    lines.append("")
    lines += [f"{note}  " for note in table.notes]
    if table.notes:
        lines.append("")
    return lines


def _machine(machine: dict[str, Any]) -> list[str]:
    packages = ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items())
    return [
        f"- CPU: {machine['cpu']}, {machine['cores']} cores",
        f"- Memory: {machine['memory_gib']} GiB",
        f"- Python: {machine['python']}",
        f"- OS: {machine['os']} (kernel {machine['kernel']})",
        f"- Packages: {packages}",
        f"- Load average when the run started: {machine.get('load_before', '?')}, "
        f"when it ended: {machine.get('load_after', '?')}",
    ]


def markdown(report: Report) -> str:
    title = "callpop benchmarks" + (" (quick run)" if report.mode == "quick" else "")
    lines = [
        f"# {title}",
        "",
        "<!-- Written by `python -m bench`; edit bench/, not this file. -->",
        "",
        f"Measured {report.started_at} in one run of {report.seconds:.0f} s: every peer row "
        "sits beside callpop's from the same run, on the same machine, at the same time.",
        "",
    ]
    if report.errors:
        lines += ["**Some benchmarks failed in this run:**", ""]
        lines += [f"- {e}" for e in report.errors] + [""]
    if report.summary is not None:
        lines += ["## Targets", "", *_table(report.summary)]
    lines += ["## Machine", "", *_machine(report.machine), ""]
    if report.background:
        lines += [f"What else ran on the machine: {report.background}", ""]
    lines += ["## Commands", "", "```sh", *report.commands, "```", ""]
    for section in report.sections:
        lines += [f"## {section.title}", "", section.intro, ""]
        for table in section.tables:
            lines += _table(table)
        lines += [f"- {note}" for note in section.notes]
        if section.notes:
            lines.append("")
    if report.findings:
        lines += [report.findings.rstrip(), ""]
    return "\n".join(lines)


def write(report: Report, markdown_path: Path, json_path: Path) -> None:
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(markdown(report), encoding="utf-8")
    payload = asdict(report)
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


def sections_by_key(sections: Sequence[Section]) -> dict[str, Section]:
    return {s.key: s for s in sections}
