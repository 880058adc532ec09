"""The diagram as a Mermaid flowchart (GitHub, GitLab and most wikis draw it inline).

Node ids are generated (`n0`, `n1`, ...): a flow's own ids could be Mermaid
keywords (`end`) or contain `-`, which Mermaid reads as part of an arrow. Every
label is a double-quoted string in which the flow's text is written with
Mermaid's entity codes (`#quot;`, `#lt;`, `#35;`...), so no quote, bracket, pipe
or markup in a prompt can end the label or add HTML; the only markup in a label
is the `<b>`, `<i>` and `<br/>` this module writes itself.
"""

from __future__ import annotations

from ivr.flow import Flow
from ivr.graph.model import Diagram, build
from ivr.graph.text import box_lines, clean, edge_lines

__all__ = ["escape", "mermaid_document", "render_mermaid"]

# Opening and closing brackets of each node kind's shape.
_SHAPES: dict[str, tuple[str, str]] = {
    "menu": ("[", "]"),
    "input": ("[/", "/]"),
    "lookup": ("[(", ")]"),
    "branch": ("{", "}"),
    "hours": ("{{", "}}"),
    "play": (">", "]"),
    "transfer": ("(", ")"),
    "voicemail": ("(", ")"),
    "hangup": ("(", ")"),
    "goto": ("[[", "]]"),
    "wait": (">", "]"),
    "callback": ("[", "]"),
    "overflow": ("{", "}"),
    "flood": ("{", "}"),
    "pin": ("[/", "/]"),
    "missing": ("[", "]"),
}

_CLASSES: dict[str, str] = {
    "menu": "fill:#eff6ff,stroke:#1d4ed8,color:#0f172a",
    "input": "fill:#faf5ff,stroke:#7e22ce,color:#0f172a",
    "lookup": "fill:#f0fdfa,stroke:#0f766e,color:#0f172a",
    "branch": "fill:#fff7ed,stroke:#c2410c,color:#0f172a",
    "hours": "fill:#fefce8,stroke:#a16207,color:#0f172a",
    "play": "fill:#f8fafc,stroke:#475569,color:#0f172a",
    "transfer": "fill:#f0fdf4,stroke:#15803d,stroke-width:2px,color:#0f172a",
    "voicemail": "fill:#ecfeff,stroke:#0e7490,stroke-width:2px,color:#0f172a",
    "hangup": "fill:#fef2f2,stroke:#b91c1c,stroke-width:2px,color:#0f172a",
    "goto": "fill:#fdf2f8,stroke:#be185d,stroke-dasharray:5 3,color:#0f172a",
    "wait": "fill:#eef2ff,stroke:#4338ca,color:#0f172a",
    "callback": "fill:#f0f9ff,stroke:#0369a1,color:#0f172a",
    "overflow": "fill:#fff7ed,stroke:#9a3412,color:#0f172a",
    "flood": "fill:#fff1f2,stroke:#be123c,color:#0f172a",
    "pin": "fill:#f5f3ff,stroke:#6d28d9,color:#0f172a",
    "missing": "fill:#fef2f2,stroke:#dc2626,stroke-dasharray:5 3,color:#991b1b",
    "start": "fill:#0f172a,stroke:#0f172a,color:#ffffff",
    "legend": "fill:#ffffff,stroke:#cbd5e1,color:#334155,text-align:left",
}

# Mermaid wraps labels at about 200 px itself; lines this short are never re-wrapped.
MERMAID_WIDTH = 32

# `%` too: Mermaid looks for `%%{...}%%` directives (which change its configuration)
# anywhere in the text, labels included.
_ENTITIES = {"#": "#35;", "&": "#amp;", "<": "#lt;", ">": "#gt;", '"': "#quot;", "%": "#37;"}


def escape(text: str) -> str:
    """Flow text as content of a quoted Mermaid label (one line)."""
    # `#` first would re-escape the codes written for the others: map each char once.
    return "".join(_ENTITIES.get(ch, ch) for ch in clean(text))


def render_mermaid(flow: Flow) -> str:
    return mermaid_document(build(flow))


def mermaid_document(d: Diagram) -> str:
    ids = {node.id: f"n{i}" for i, node in enumerate(d.nodes)}
    # The flow id is a plain name (the loader checks it); the description, free text,
    # goes in the legend, escaped like every label, never into a comment.
    out = [f"%% IVR flow {d.flow}", "flowchart LR"]
    for node in d.nodes:
        kind, title, prompt, details = box_lines(node, MERMAID_WIDTH)
        parts = [f"<b>{escape(title)}</b>", f"<i>{escape(kind)}</i>"]
        parts += [escape(line) for line in prompt]
        parts += [f"<i>{escape(line)}</i>" for line in details]
        left, right = _SHAPES.get(node.kind, ("[", "]"))
        out.append(f'    {ids[node.id]}{left}"{"<br/>".join(parts)}"{right}')
    out.append('    start(("call"))')
    out.append(f"    start --> {ids[d.entry]}")
    for edge in d.edges:
        arrow = "-.->" if edge.kind == "failure" else "-->"
        lines = edge_lines(edge)
        label = f'|"{"<br/>".join(escape(line) for line in lines)}"|' if lines else ""
        out.append(f"    {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
    notes = ([d.description] if d.description else []) + list(d.legend)
    if notes:
        legend = "<br/>".join([f"<b>Flow {escape(d.flow)}</b>", *(escape(line) for line in notes)])
        out.append(f'    legend["{legend}"]')
    for kind, style in _CLASSES.items():
        out.append(f"    classDef {kind} {style}")
    by_kind: dict[str, list[str]] = {}
    for node in d.nodes:
        by_kind.setdefault(node.kind, []).append(ids[node.id])
    for kind, members in by_kind.items():
        if kind in _CLASSES:
            out.append(f"    class {','.join(members)} {kind}")
    out.append("    class start start")
    if notes:
        out.append("    class legend legend")
    return "\n".join(out) + "\n"
