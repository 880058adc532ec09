"""Text shared by the Mermaid and DOT renderers: the lines of a box and of an arrow.

Both tools lay out and size boxes themselves, so lines are wrapped by characters
here; what each format needs escaped is the renderer's business.
"""

from __future__ import annotations

import re
import textwrap

from ivr.graph.model import DiagramEdge, DiagramNode

__all__ = ["KIND_TITLES", "box_lines", "clean", "edge_lines"]

KIND_TITLES: dict[str, str] = {
    "menu": "MENU",
    "input": "INPUT",
    "lookup": "CRM LOOKUP",
    "branch": "BRANCH",
    "hours": "HOURS",
    "play": "ANNOUNCEMENT",
    "transfer": "TRANSFER",
    "voicemail": "VOICEMAIL",
    "hangup": "HANG UP",
    "goto": "GO TO",
    "wait": "WAIT ESTIMATE",
    "callback": "CALLBACK OFFER",
    "overflow": "OVERFLOW",
    "flood": "FLOOD MODE",
    "pin": "PIN CHECK",
    "missing": "MISSING",
}

WIDTH = 44
PROMPT_LINES = 6

_CONTROL = re.compile("[\x00-\x1f\x7f\u2028\u2029]")


def clean(text: str) -> str:
    """One line of text: control characters and line breaks become spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _wrap(text: str, width: int = WIDTH, max_lines: int | None = None) -> list[str]:
    lines = textwrap.wrap(clean(text), width, break_long_words=True, break_on_hyphens=False)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = textwrap.shorten(lines[-1] + " …", width, placeholder=" …")
        if not lines[-1].endswith("…"):
            lines[-1] += " …"
    return lines


def box_lines(node: DiagramNode, width: int = WIDTH) -> tuple[str, str, list[str], list[str]]:
    """(kind line, title, prompt lines, detail lines) of a box, wrapped at `width`."""
    kind = f"{KIND_TITLES.get(node.kind, node.kind.upper())} · {node.id}"
    prompt = " ".join(p if p.startswith(("[", "‹")) else f"“{p}”" for p in node.prompts)
    details = [line for d in node.details for line in _wrap(d, width)]
    return kind, clean(node.title), _wrap(prompt, width, PROMPT_LINES), details


def edge_lines(edge: DiagramEdge) -> list[str]:
    lines = _wrap(edge.text, 32, 3) if edge.text else []
    if edge.topic:
        lines.append(f"topic {edge.topic}")
    return lines
