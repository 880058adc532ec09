"""The flow diagram coloured by drop-off: where callers hang up, at a glance.

The diagram is `callpop graph`'s own (ivr.graph: same layout, same boxes), with each
node's body tinted and outlined by the share of its visits where the caller hung up
(green none, amber some, red at `RED_AT` or more), and a pill above it with its
visits, drop-off and operator zero-outs. Nodes no call reached stay untinted and
say so. A legend in the title block gives the scale and the number of calls.

Every text goes through the SVG module's escaping (node ids and labels come from
flow files, the numbers from the database).
"""

from __future__ import annotations

from collections.abc import Iterator

from callpop.report.model import JourneyReport, NodeStats
from ivr.flow import Flow
from ivr.graph.layout import REF, Box, Layout, layout, text_width, wrap
from ivr.graph.model import build
from ivr.graph.svg import FONT, svg_document
from ivr.graph.svg import _n as number
from ivr.graph.svg import _text as escape

__all__ = ["RED_AT", "heat_colour", "render_heatmap"]

RED_AT = 0.25
"""Drop-off at which a node is fully red: a quarter of its callers hung up there."""

_GREEN = (22, 163, 74)
_AMBER = (245, 158, 11)
_RED = (220, 38, 38)
_PILL = 16.0


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> str:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return f"#{r:02x}{g:02x}{bl:02x}"


def heat_colour(drop_off: float) -> str:
    """Green at 0, amber at half of `RED_AT`, red from `RED_AT` on."""
    t = min(max(drop_off / RED_AT, 0.0), 1.0)
    return _mix(_GREEN, _AMBER, t * 2) if t < 0.5 else _mix(_AMBER, _RED, (t - 0.5) * 2)


def render_heatmap(flow: Flow, report: JourneyReport) -> str:
    """The SVG document: `flow` drawn, its nodes coloured by `report`'s drop-off."""
    lay = layout(build(flow))
    stats = {n.node: n for n in report.nodes if n.flow == flow.id}
    overlay = [
        *_legend(lay, report),
        *(line for box in lay.boxes for line in _overlay(box, stats.get(box.node.id), lay)),
    ]
    document = svg_document(lay)
    end = document.rindex("</svg>")
    return document[:end] + "\n".join(overlay) + "\n" + document[end:]


def _overlay(box: Box, stats: NodeStats | None, lay: Layout) -> Iterator[str]:
    if box.node.kind == REF:
        return
    st = lay.style
    x, y, w, h = box.x, box.y, box.w, box.h
    if stats is None or stats.entries == 0:
        label = "no calls"
        colour = "#94a3b8"
    else:
        colour = heat_colour(stats.drop_off)
        label = f"{stats.entries:,} visits · {100 * stats.drop_off:.1f}% hung up"
        if stats.operator:
            label += f" · {100 * stats.operator / stats.entries:.1f}% operator"
        yield (
            f'<g class="heat" data-node="{escape(box.node.id)}" data-drop-off="{stats.drop_off:.4f}">'
            f'<rect x="{number(x)}" y="{number(y + st.header)}" width="{number(w)}" height="{number(h - st.header)}"'
            f' fill="{colour}" fill-opacity="0.22"/>'
            f'<rect x="{number(x - 2)}" y="{number(y - 2)}" width="{number(w + 4)}" height="{number(h + 4)}"'
            f' rx="9" fill="none" stroke="{colour}" stroke-width="3.5"/></g>'
        )
    width = text_width(label, 10.5, bold=True) + 14
    px, py = x + w - width, y - _PILL - 1
    yield (
        f'<g class="heat-pill"><title>{escape(box.node.id + ": " + label)}</title>'
        f'<rect x="{number(px)}" y="{number(py)}" width="{number(width)}" height="{number(_PILL)}" rx="8"'
        f' fill="{colour}"/>'
        f'<text x="{number(px + 7)}" y="{number(py + 11.5)}" font-size="10.5" font-weight="700"'
        f' fill="#ffffff">{escape(label)}</text></g>'
    )


def _legend(lay: Layout, report: JourneyReport) -> Iterator[str]:
    """The scale in the title block, right after the title and description (where a
    wide diagram's reader looks first): a gradient bar from 0 to RED_AT."""
    st = lay.style
    bar_w = 220.0
    description = lay.diagram.description or ""
    lines = wrap(description, max(lay.width - 2 * st.margin, 400), 13.5, 2) if description else ()
    used = max(
        [
            text_width(f"Flow {lay.diagram.flow}", 22, bold=True),
            *(text_width(t, 13.5) for t in lines),
        ]
    )
    filters = ", ".join(f"{k} {v}" for k, v in report.filters.items() if v)
    title = f"Drop-off (callers who hung up) · {report.calls:,} calls" + (
        f" · {filters}" if filters else ""
    )
    needed = max(text_width(title, 12.5, bold=True), bar_w + 90)
    x = max(st.margin, min(st.margin + used + 60, lay.width - st.margin - needed))
    right = x + bar_w
    y = st.margin + 6
    stops = "".join(
        f'<stop offset="{i / 4:.2f}" stop-color="{heat_colour(RED_AT * i / 4)}"/>' for i in range(5)
    )
    yield f'<defs><linearGradient id="heat-scale" x1="0" x2="1" y1="0" y2="0">{stops}</linearGradient></defs>'
    yield (
        f'<g class="heat-legend" font-family="{escape(FONT)}">'
        f'<text x="{number(x)}" y="{number(y + 4)}" font-size="12.5" font-weight="700" fill="#0f172a">'
        f"{escape(title)}</text>"
        f'<rect x="{number(x)}" y="{number(y + 12)}" width="{number(bar_w)}" height="12" rx="3" fill="url(#heat-scale)"/>'
        f'<text x="{number(x)}" y="{number(y + 38)}" font-size="11" fill="#475569">0%</text>'
        f'<text x="{number(x + bar_w / 2)}" y="{number(y + 38)}" font-size="11" fill="#475569"'
        f' text-anchor="middle">{100 * RED_AT / 2:.1f}%</text>'
        f'<text x="{number(right)}" y="{number(y + 38)}" font-size="11" fill="#475569"'
        f' text-anchor="middle">≥{100 * RED_AT:.0f}% of visits</text></g>'
    )
