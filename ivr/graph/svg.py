"""The diagram as a standalone SVG document, drawn in pure Python.

No Graphviz binary: the layout is `ivr.graph.layout`, and this module only draws
it. Every piece of text from the flow file goes through `_text` (XML-escaped,
control characters dropped), so a prompt text or a label can never break the
document or inject markup into a page that embeds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ivr.flow import Flow
from ivr.graph.layout import KEY_BADGE, REF, Box, Layout, Style, Wire, layout, text_width, wrap
from ivr.graph.model import MISSING, build

__all__ = ["KIND_COLOURS", "KIND_NAMES", "render_svg", "svg_document"]

FONT = "'Helvetica Neue', Helvetica, Arial, 'Liberation Sans', sans-serif"
MONO = "'SFMono-Regular', Menlo, Consolas, 'Liberation Mono', monospace"

KIND_COLOURS: dict[str, str] = {
    "menu": "#1d4ed8",
    "input": "#7e22ce",
    "lookup": "#0f766e",
    "branch": "#c2410c",
    "hours": "#a16207",
    "play": "#475569",
    "transfer": "#15803d",
    "voicemail": "#0e7490",
    "hangup": "#b91c1c",
    "goto": "#be185d",
    "wait": "#4338ca",
    "callback": "#0369a1",
    "overflow": "#9a3412",
    "flood": "#be123c",
    "pin": "#6d28d9",
    MISSING: "#dc2626",
    REF: "#64748b",
}
KIND_NAMES: dict[str, str] = {
    "menu": "menu",
    "input": "input",
    "lookup": "CRM lookup",
    "branch": "branch",
    "hours": "hours",
    "play": "announcement",
    "transfer": "transfer",
    "voicemail": "voicemail",
    "hangup": "hang up",
    "goto": "go to",
    "wait": "wait estimate",
    "callback": "callback offer",
    "overflow": "overflow",
    "flood": "flood mode",
    "pin": "PIN check",
    MISSING: "missing",
}
# Where the call ends gets a tinted body, so the exits stand out at a glance.
_TINTS = {"transfer": "#f0fdf4", "voicemail": "#ecfeff", "hangup": "#fef2f2", MISSING: "#fef2f2"}
_EDGE = "#64748b"
_FAILURE = "#b91c1c"
_INK = "#0f172a"
_BODY = "#1e293b"
_MUTED = "#475569"

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _text(value: str) -> str:
    """Text safe for XML character data and attribute values."""
    value = _CONTROL.sub("", value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def render_svg(flow: Flow, style: Style | None = None) -> str:
    """The SVG document of one flow."""
    return svg_document(layout(build(flow), style))


def svg_document(lay: Layout) -> str:
    st = lay.style
    d = lay.diagram
    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(lay.width)}" height="{_n(lay.height)}"'
        f' viewBox="0 0 {_n(lay.width)} {_n(lay.height)}" font-family="{_text(FONT)}"'
        ' role="img" aria-labelledby="diagram-title">',
        f'<title id="diagram-title">IVR flow {_text(d.flow)}</title>',
        "<defs>",
        *(
            _marker(name, colour)
            for name, colour in (("arrow", _EDGE), ("arrow-failure", _FAILURE))
        ),
        '<filter id="shadow" x="-5%" y="-5%" width="110%" height="120%">'
        '<feDropShadow dx="0" dy="1.5" stdDeviation="1.8" flood-color="#0f172a" flood-opacity="0.13"/>'
        "</filter>",
        "</defs>",
        f'<rect width="{_n(lay.width)}" height="{_n(lay.height)}" fill="#f8fafc"/>',
    ]
    out += _header(lay)
    out += _legend(lay)
    for wire in lay.wires:
        out += _wire_line(wire)
    for box in lay.boxes:
        out += _box(box, st)
    for wire in lay.wires:
        out += _wire_label(wire, st)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _marker(name: str, colour: str) -> str:
    return (
        f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7"'
        f' orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
    )


def _header(lay: Layout) -> Iterator[str]:
    st = lay.style
    d = lay.diagram
    x = st.margin
    y = st.margin + 22
    yield (
        f'<text x="{_n(x)}" y="{_n(y)}" font-size="22" font-weight="700" fill="{_INK}">'
        f'Flow <tspan font-family="{_text(MONO)}">{_text(d.flow)}</tspan></text>'
    )
    if d.description:
        lines = wrap(d.description, max(lay.width - 2 * st.margin, 400), 13.5, 2)
        for i, line in enumerate(lines):
            yield (
                f'<text x="{_n(x)}" y="{_n(y + 22 + i * 18)}" font-size="13.5" fill="{_MUTED}">'
                f"{_text(line)}</text>"
            )


def _legend(lay: Layout) -> Iterator[str]:
    st = lay.style
    x = st.margin
    y = lay.legend_y
    height = lay.tree_y - st.tree_gap - y
    width = lay.width - 2 * st.margin
    yield (
        f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" height="{_n(height)}" rx="8"'
        ' fill="#ffffff" stroke="#e2e8f0"/>'
    )
    cx = x + st.pad
    cy = y + st.pad + 12
    present = {b.node.kind for b in lay.boxes}
    for kind, name in KIND_NAMES.items():
        if kind not in present:
            continue
        colour = KIND_COLOURS[kind]
        yield f'<rect x="{_n(cx)}" y="{_n(cy - 9)}" width="12" height="12" rx="3" fill="{colour}"/>'
        yield f'<text x="{_n(cx + 17)}" y="{_n(cy + 1)}" font-size="12" fill="{_BODY}">{_text(name)}</text>'
        cx += 17 + text_width(name, 12) + 18
    dash_x = cx + 6
    if any(w.edge.kind == "failure" for w in lay.wires):
        yield from _failure_chip(dash_x, cy)
        dash_x += 32 + text_width("when the caller gives up", 12) + 18
    if REF in present:
        yield (
            f'<text x="{_n(dash_x)}" y="{_n(cy + 1)}" font-size="12" fill="{_BODY}">'
            "↪ shown elsewhere (click it)</text>"
        )
    for i, line in enumerate(lay.legend):
        ly = y + st.pad + 24 + (i + 1) * st.legend_size * 1.5 - 4
        yield (
            f'<text x="{_n(x + st.pad)}" y="{_n(ly)}" font-size="{_n(st.legend_size)}" fill="{_BODY}">'
            f"{_text(line)}</text>"
        )


def _failure_chip(dash_x: float, cy: float) -> Iterator[str]:
    yield (
        f'<line x1="{_n(dash_x)}" y1="{_n(cy - 3)}" x2="{_n(dash_x + 26)}" y2="{_n(cy - 3)}"'
        f' stroke="{_FAILURE}" stroke-width="1.6" stroke-dasharray="5 3"/>'
    )
    yield (
        f'<text x="{_n(dash_x + 32)}" y="{_n(cy + 1)}" font-size="12" fill="{_BODY}">'
        "when the caller gives up</text>"
    )


def _path(points: tuple[tuple[float, float], ...], radius: float = 8) -> str:
    """An orthogonal polyline with rounded elbows."""
    if len(points) < 3:
        (x0, y0), (x1, y1) = points[0], points[-1]
        return f"M{_n(x0)},{_n(y0)} L{_n(x1)},{_n(y1)}"
    parts = [f"M{_n(points[0][0])},{_n(points[0][1])}"]
    for prev, corner, nxt in zip(points, points[1:], points[2:], strict=False):
        r = min(radius, _dist(prev, corner) / 2, _dist(corner, nxt) / 2)
        a = _towards(corner, prev, r)
        b = _towards(corner, nxt, r)
        parts.append(
            f"L{_n(a[0])},{_n(a[1])} Q{_n(corner[0])},{_n(corner[1])} {_n(b[0])},{_n(b[1])}"
        )
    parts.append(f"L{_n(points[-1][0])},{_n(points[-1][1])}")
    return " ".join(parts)


def _dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def _towards(
    origin: tuple[float, float], target: tuple[float, float], r: float
) -> tuple[float, float]:
    d = _dist(origin, target) or 1.0
    return (
        origin[0] + (target[0] - origin[0]) * r / d,
        origin[1] + (target[1] - origin[1]) * r / d,
    )


def _wire_line(wire: Wire) -> Iterator[str]:
    failure = wire.edge.kind == "failure"
    colour = _FAILURE if failure else _EDGE
    dash = ' stroke-dasharray="6 4"' if failure else ""
    marker = "arrow-failure" if failure else "arrow"
    end = wire.points[-1]
    points = (*wire.points[:-1], (end[0] - 1.5, end[1]))
    yield (
        f'<path d="{_path(points)}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}'
        f' marker-end="url(#{marker})"/>'
    )


def _wire_label(wire: Wire, st: Style) -> Iterator[str]:
    if wire.label_w <= 0:
        return
    edge = wire.edge
    failure = edge.kind == "failure"
    x = wire.label_x
    top = wire.label_y - wire.label_h / 2
    yield "<g>"
    yield (
        f'<rect x="{_n(x)}" y="{_n(top)}" width="{_n(wire.label_w)}" height="{_n(wire.label_h)}" rx="6"'
        f' fill="#ffffff" stroke="{"#fecaca" if failure else "#cbd5e1"}"/>'
    )
    tx = x + 7
    if edge.key is not None:
        by = wire.label_y - KEY_BADGE / 2
        yield (
            f'<rect x="{_n(tx - 2)}" y="{_n(by)}" width="{_n(KEY_BADGE)}" height="{_n(KEY_BADGE)}" rx="4"'
            f' fill="{_INK}"/>'
        )
        yield (
            f'<text x="{_n(tx - 2 + KEY_BADGE / 2)}" y="{_n(wire.label_y + 4.5)}" font-size="13"'
            f' font-weight="700" fill="#ffffff" text-anchor="middle">{_text(edge.key)}</text>'
        )
        tx += KEY_BADGE + 4
    step = st.label_size * st.line
    first = wire.label_y - (len(wire.label) - 1) * step / 2 + st.label_size * 0.36
    for i, line in enumerate(wire.label):
        is_topic = edge.topic is not None and i == len(wire.label) - 1
        colour = _FAILURE if failure else (_MUTED if is_topic else _INK)
        weight = "400" if is_topic or failure else "600"
        size = st.label_size - 1 if is_topic else st.label_size
        yield (
            f'<text x="{_n(tx)}" y="{_n(first + i * step)}" font-size="{_n(size)}" font-weight="{weight}"'
            f' fill="{colour}">{_text(line)}</text>'
        )
    yield "</g>"


def _box(box: Box, st: Style) -> Iterator[str]:
    node = box.node
    colour = KIND_COLOURS.get(node.kind, _EDGE)
    if node.kind == REF:
        yield from _ref_box(box, st)
        return
    terminal = node.terminal
    fill = _TINTS.get(node.kind, "#ffffff")
    dashed = node.kind in ("goto", MISSING)
    rx = 14 if terminal else 7
    x, y, w, h = box.x, box.y, box.w, box.h
    yield f'<g id="node-{_text(node.id)}" class="node {node.kind}">'
    full = " ".join(node.prompts)
    yield f"<title>{_text(node.id + (': ' + full if full else ''))}</title>"
    if box.caption:
        yield (
            f'<text x="{_n(x)}" y="{_n(y - 8)}" font-size="11.5" font-style="italic" fill="{_MUTED}">'
            f"{_text(box.caption)}</text>"
        )
    yield (
        f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" rx="{rx}" fill="{fill}"'
        f' stroke="{colour}" stroke-width="{1.6 if terminal else 1.2}"'
        + (' stroke-dasharray="6 3"' if dashed else "")
        + ' filter="url(#shadow)"/>'
    )
    # The coloured header band: kind on the left, node id on the right.
    yield (
        f'<path d="M{_n(x)},{_n(y + rx)} a{rx},{rx} 0 0 1 {rx},-{rx} h{_n(w - 2 * rx)}'
        f' a{rx},{rx} 0 0 1 {rx},{rx} v{_n(st.header - rx)} h{_n(-w)} z" fill="{colour}"/>'
    )
    kind_name = KIND_NAMES.get(node.kind, node.kind).upper()
    yield (
        f'<text x="{_n(x + st.pad)}" y="{_n(y + st.header - 7)}" font-size="10.5" font-weight="700"'
        f' letter-spacing="0.08em" fill="#ffffff">{_text(kind_name)}</text>'
    )
    yield (
        f'<text x="{_n(x + w - st.pad)}" y="{_n(y + st.header - 7)}" font-size="10.5"'
        f' font-family="{_text(MONO)}" fill="#ffffff" fill-opacity="0.85" text-anchor="end">'
        f"{_text(node.id)}</text>"
    )
    cursor = y + st.header + st.pad * 0.7
    for line in box.title:
        cursor += st.title_size * st.line
        yield (
            f'<text x="{_n(x + st.pad)}" y="{_n(cursor - 4)}" font-size="{_n(st.title_size)}"'
            f' font-weight="700" fill="{_INK}">{_text(line)}</text>'
        )
    if box.prompt:
        cursor += 6
        top = cursor
        for line in box.prompt:
            cursor += st.text_size * st.line
            yield (
                f'<text x="{_n(x + st.pad + 8)}" y="{_n(cursor - 4)}" font-size="{_n(st.text_size)}"'
                f' fill="{_BODY}">{_text(line)}</text>'
            )
        yield (
            f'<rect x="{_n(x + st.pad)}" y="{_n(top + 2)}" width="2.5" height="{_n(cursor - top - 1)}"'
            f' rx="1.2" fill="{colour}" fill-opacity="0.45"/>'
        )
    if box.details:
        cursor += 6
        for line in box.details:
            cursor += st.detail_size * st.line
            yield (
                f'<text x="{_n(x + st.pad)}" y="{_n(cursor - 4)}" font-size="{_n(st.detail_size)}"'
                f' fill="{_MUTED}">{_text(line)}</text>'
            )
    yield "</g>"


def _ref_box(box: Box, st: Style) -> Iterator[str]:
    x, y, w, h = box.x, box.y, box.w, box.h
    target = box.ref or ""
    yield f'<a href="#node-{_text(target)}">'
    yield f"<title>{_text('goes to ' + target + ', drawn elsewhere')}</title>"
    yield (
        f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" rx="7" fill="#f1f5f9"'
        f' stroke="{KIND_COLOURS[REF]}" stroke-dasharray="4 3"/>'
    )
    cursor = y + st.pad * 0.7
    for line in box.title:
        cursor += st.detail_size * st.line
        yield (
            f'<text x="{_n(x + st.pad)}" y="{_n(cursor - 2)}" font-size="{_n(st.detail_size)}"'
            f' font-weight="600" fill="{_INK}">{_text(line)}</text>'
        )
    cursor += st.detail_size * st.line
    yield (
        f'<text x="{_n(x + st.pad)}" y="{_n(cursor - 2)}" font-size="{_n(st.detail_size - 1)}"'
        f' font-family="{_text(MONO)}" fill="{_MUTED}">{_text(target)}</text>'
    )
    yield "</a>"
