"""The diagram in Graphviz DOT, for teams that already draw with `dot`.

Every id and label is a double-quoted DOT string written by `quote`: backslashes
are doubled (so a prompt cannot smuggle in `\\N`, `\\G` or a line break of its
own), quotes are escaped, control characters dropped. Line breaks in labels are
the `\\n` and `\\l` this module writes.
"""

from __future__ import annotations

from ivr.flow import Flow
from ivr.graph.model import Diagram, build
from ivr.graph.text import box_lines, clean, edge_lines

__all__ = ["dot_document", "quote", "render_dot"]

# shape, style, outline colour, fill colour
_LOOKS: dict[str, tuple[str, str, str, str]] = {
    "menu": ("box", "rounded,filled", "#1d4ed8", "#eff6ff"),
    "input": ("parallelogram", "filled", "#7e22ce", "#faf5ff"),
    "lookup": ("cylinder", "filled", "#0f766e", "#f0fdfa"),
    "branch": ("diamond", "filled", "#c2410c", "#fff7ed"),
    "hours": ("hexagon", "filled", "#a16207", "#fefce8"),
    "play": ("cds", "filled", "#475569", "#f8fafc"),
    "transfer": ("box", "rounded,filled,bold", "#15803d", "#f0fdf4"),
    "voicemail": ("box", "rounded,filled,bold", "#0e7490", "#ecfeff"),
    "hangup": ("octagon", "filled,bold", "#b91c1c", "#fef2f2"),
    "goto": ("rarrow", "filled,dashed", "#be185d", "#fdf2f8"),
    "wait": ("note", "filled", "#4338ca", "#eef2ff"),
    "callback": ("box", "rounded,filled", "#0369a1", "#f0f9ff"),
    "overflow": ("diamond", "filled", "#9a3412", "#fff7ed"),
    "flood": ("diamond", "filled", "#be123c", "#fff1f2"),
    "pin": ("parallelogram", "filled", "#6d28d9", "#f5f3ff"),
    "missing": ("box", "filled,dashed", "#dc2626", "#fef2f2"),
}


def quote(text: str) -> str:
    """A DOT double-quoted string holding `text` verbatim, on one line."""
    return '"' + clean(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(lines: list[str], left: set[int] | None = None) -> str:
    """A label from lines; lines whose index is in `left` are left-justified (`\\l`)."""
    out = []
    for i, line in enumerate(lines):
        body = clean(line).replace("\\", "\\\\").replace('"', '\\"')
        out.append(body + ("\\l" if left and i in left else "\\n"))
    return '"' + "".join(out) + '"'


def render_dot(flow: Flow) -> str:
    return dot_document(build(flow))


def dot_document(d: Diagram) -> str:
    title = [f"Flow {d.flow}"] + ([d.description] if d.description else [])
    out = [
        f"digraph {quote(d.flow)} {{",
        f"    graph [rankdir=LR, labelloc=t, labeljust=l, fontname=Helvetica, fontsize=16,"
        f" nodesep=0.25, ranksep=0.6, label={_label(title)}];",
        '    node [fontname=Helvetica, fontsize=11, margin="0.15,0.08"];',
        '    edge [fontname=Helvetica, fontsize=10, color="#64748b"];',
        '    "__start" [shape=circle, style=filled, fillcolor="#0f172a", fontcolor="#ffffff",'
        ' label="call", width=0.6, fixedsize=true];',
    ]
    for node in d.nodes:
        kind, title_line, prompt, details = box_lines(node)
        lines = [kind, title_line, *prompt, *details]
        left = set(range(2, len(lines)))
        shape, style, colour, fill = _LOOKS.get(node.kind, _LOOKS["missing"])
        out.append(
            f"    {quote(node.id)} [label={_label(lines, left)}, shape={shape},"
            f' style="{style}", color="{colour}", fillcolor="{fill}"];'
        )
    out.append(f'    "__start" -> {quote(d.entry)};')
    for edge in d.edges:
        attrs = []
        lines = edge_lines(edge)
        if lines:
            attrs.append(f"label={_label(lines)}")
        if edge.kind == "failure":
            attrs.append('style=dashed, color="#b91c1c", fontcolor="#b91c1c"')
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        out.append(f"    {quote(edge.source)} -> {quote(edge.target)}{suffix};")
    if d.legend:
        lines = ["Legend", *d.legend]
        out.append(
            f'    "__legend" [shape=note, style=filled, fillcolor="#ffffff", color="#cbd5e1",'
            f" label={_label(lines, set(range(1, len(lines))))}];"
        )
    out.append("}")
    return "\n".join(out) + "\n"
