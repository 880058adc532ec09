"""The README and docs/ stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from callpop.commands.graph import render

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_diagram_is_the_current_sample_flow() -> None:
    """Regenerate with: callpop graph dialplan/flows/main.yaml -o docs/images/main-flow.svg"""
    current = render(REPO / "dialplan" / "flows" / "main.yaml", "svg")
    committed = (REPO / "docs" / "images" / "main-flow.svg").read_text(encoding="utf-8")
    assert committed == current


def test_every_relative_link_in_the_readme_and_docs_exists() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(REPO)} -> {target}")
    assert missing == []
