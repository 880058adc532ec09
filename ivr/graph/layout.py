"""Where every box and arrow of a diagram goes: a layered, left-to-right tree.

IVR trees read left to right the way callers walk them: the entry on the left,
one column per step, the leaves (transfers, voicemail, hang-up) on the right.
Every node is drawn once, in the column where the caller can first reach it
(breadth-first from the entry). An arrow to a node already drawn elsewhere (a
shared queue, a loop back to a menu) does not cross the picture: it ends in a
small reference box naming that node, which the SVG links to the real one.

Text is measured with average glyph widths of a sans-serif font, so the layout
needs no font files and gives the same picture on every machine; boxes leave a
margin for the difference with the viewer's actual font.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from ivr.graph.model import Diagram, DiagramEdge, DiagramNode

__all__ = [
    "REF",
    "Box",
    "Layout",
    "Style",
    "Wire",
    "layout",
    "text_width",
    "wrap",
]

REF = "ref"
"""Kind of the reference box that stands for a node drawn elsewhere."""

# Average advance widths in em for a Helvetica/Arial-like face, by character class.
_NARROW = frozenset("il.,:;'|!()[]{}`ijltfrI ")
_WIDE = frozenset("mwMW@%")
_CAPS = frozenset("ABCDEFGHJKLNOPQRSTUVXYZ&")


def text_width(text: str, size: float, bold: bool = False) -> float:
    em = 0.0
    for ch in text:
        if ch in _NARROW:
            em += 0.3
        elif ch in _WIDE:
            em += 0.86
        elif ch in _CAPS:
            em += 0.68
        else:
            em += 0.55
    return em * size * (1.06 if bold else 1.0)


def wrap(text: str, width: float, size: float, max_lines: int | None = None) -> tuple[str, ...]:
    """Greedy word wrap to `width` pixels; a word longer than a line is cut."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        while text_width(word, size) > width:
            cut = len(word)
            while cut > 1 and text_width(word[:cut], size) > width:
                cut -= 1
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{current} {word}" if current else word
        if current and text_width(candidate, size) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    if max_lines is not None and len(lines) > max_lines:
        kept = lines[:max_lines]
        last = kept[-1]
        while last and text_width(last + " …", size) > width:
            last = last[:-1]
        kept[-1] = last.rstrip() + " …"
        lines = kept
    return tuple(lines)


@dataclass(frozen=True, slots=True)
class Style:
    """Sizes in pixels. The defaults fit prompt texts of a few sentences."""

    box_width: float = 300
    ref_width: float = 190
    pad: float = 12
    header: float = 22
    title_size: float = 14
    text_size: float = 12.5
    detail_size: float = 11.5
    label_size: float = 11.5
    line: float = 1.38
    max_prompt_lines: int = 9
    v_gap: float = 18
    tree_gap: float = 44
    stub: float = 22
    label_pad: float = 10
    label_max: float = 190
    margin: float = 28
    title_block: float = 64
    legend_size: float = 12.5


@dataclass(slots=True)
class Box:
    node: DiagramNode
    column: int
    x: float = 0
    y: float = 0
    w: float = 0
    h: float = 0
    title: tuple[str, ...] = ()
    prompt: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    ref: str | None = None
    """For a reference box: the id of the node it stands for."""
    caption: str | None = None
    """Text above a root that no arrow reaches (e.g. the operator)."""
    children: list[Box] = field(default_factory=list)
    edges_in: list[DiagramEdge] = field(default_factory=list)

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass(frozen=True, slots=True)
class Wire:
    """An arrow as a polyline. Its label (the key's badge, then `label` lines) is a
    `label_w` x `label_h` pill whose left edge is `label_x`, centred on `label_y`."""

    edge: DiagramEdge
    points: tuple[tuple[float, float], ...]
    label: tuple[str, ...]
    label_x: float
    label_y: float
    label_w: float
    label_h: float


@dataclass(frozen=True, slots=True)
class Layout:
    diagram: Diagram
    style: Style
    width: float
    height: float
    boxes: tuple[Box, ...]
    wires: tuple[Wire, ...]
    legend: tuple[str, ...]
    legend_y: float
    tree_y: float


def layout(diagram: Diagram, style: Style | None = None) -> Layout:
    st = style or Style()
    roots = _trees(diagram)
    boxes = [b for root in roots for b in _walk(root)]
    for box in boxes:
        _size(box, st)

    legend_width = 0.0
    legend = tuple(line for text in diagram.legend for line in wrap(text, 900, st.legend_size))
    if legend:
        legend_width = max(text_width(line, st.legend_size) for line in legend) + 2 * st.pad
    legend_y = st.margin + st.title_block
    legend_h = _legend_height(legend, st)
    tree_y = legend_y + legend_h + st.tree_gap

    # Columns: widest box of each column, and room before it for the widest label.
    columns = max(b.column for b in boxes) + 1
    col_w = [0.0] * columns
    label_w = [0.0] * columns
    for box in boxes:
        col_w[box.column] = max(col_w[box.column], box.w)
        for edge in box.edges_in:
            lines = _label_lines(edge, st)
            if lines or edge.key is not None:
                label_w[box.column] = max(label_w[box.column], _label_width(edge, lines, st))
    col_x = [0.0] * columns
    x = st.margin
    for c in range(columns):
        if c:
            x += st.stub + 2 * st.label_pad + label_w[c] + 14
        col_x[c] = x
        x += col_w[c]
    width = max(x + st.margin, legend_width + 2 * st.margin, 420.0)

    free = [tree_y] * columns
    for root in roots:
        # Each tree starts below everything drawn so far, under its caption.
        top = max(free) + (st.tree_gap - st.v_gap if root is not roots[0] else 0) + 20
        free = [top] * columns
        _place(root, top, free, col_x, st)
    height = max(free) - st.v_gap + st.margin

    wires = [w for box in boxes for w in _wires(box, st)]
    return Layout(
        diagram=diagram,
        style=st,
        width=round(width),
        height=round(height),
        boxes=tuple(boxes),
        wires=tuple(wires),
        legend=legend,
        legend_y=legend_y,
        tree_y=tree_y,
    )


# --- the trees --------------------------------------------------------------------


def _trees(diagram: Diagram) -> list[Box]:
    """Breadth-first from each root, so every node sits in the first column where a
    caller can reach it; nodes no root reaches get trees of their own below."""
    by_id = {n.id: n for n in diagram.nodes}
    placed: dict[str, Box] = {}
    roots: list[Box] = []
    starts = [(r, None) for r in diagram.roots] + [
        (n.id, "not reachable from the entry") for n in diagram.nodes
    ]
    for start, caption in starts:
        if start in placed or start not in by_id:
            continue
        root = Box(by_id[start], 0)
        if start == diagram.entry:
            root.caption = "calls start here"
        else:
            root.caption = caption or "reached with the operator key and when a caller gives up"
        placed[start] = root
        roots.append(root)
        queue = deque([root])
        while queue:
            box = queue.popleft()
            for edge in diagram.outgoing(box.node.id):
                if edge.target in placed:
                    target = by_id[edge.target]
                    child = Box(
                        DiagramNode(id=f"ref-{edge.target}", kind=REF, title=target.title),
                        box.column + 1,
                        ref=edge.target,
                    )
                else:
                    child = Box(by_id[edge.target], box.column + 1)
                    placed[edge.target] = child
                    queue.append(child)
                child.edges_in.append(edge)
                box.children.append(child)
    return roots


def _walk(root: Box) -> Iterable[Box]:
    yield root
    for child in root.children:
        yield from _walk(child)


# --- sizes and positions ----------------------------------------------------------


def _size(box: Box, st: Style) -> None:
    line = st.line
    if box.node.kind == REF:
        box.w = st.ref_width
        box.title = wrap("↪ " + box.node.title, st.ref_width - 2 * st.pad, st.detail_size, 2)
        box.details = (box.ref or "",)
        box.h = st.pad * 1.4 + (len(box.title) + 1) * st.detail_size * line
        return
    inner = st.box_width - 2 * st.pad
    box.w = st.box_width
    box.title = wrap(box.node.title, inner, st.title_size, 2)
    prompt = " ".join(f"“{p}”" if not p.startswith(("[", "‹")) else p for p in box.node.prompts)
    box.prompt = wrap(prompt, inner, st.text_size, st.max_prompt_lines) if prompt else ()
    box.details = tuple(
        line for d in box.node.details for line in wrap(d, inner, st.detail_size, 2)
    )
    h = st.header + st.pad * 0.7
    h += len(box.title) * st.title_size * line
    if box.prompt:
        h += 6 + len(box.prompt) * st.text_size * line
    if box.details:
        h += 6 + len(box.details) * st.detail_size * line
    box.h = h + st.pad * 0.8


def _slot(box: Box, st: Style) -> float:
    """Height a box claims in its column: the box, or the label pill of the arrow
    into it when that is taller (siblings must not overlap it)."""
    own = box.h
    for edge in box.edges_in:
        own = max(own, _label_height(edge, _label_lines(edge, st), st))
    return own


def _place(box: Box, min_cy: float, free: list[float], col_x: list[float], st: Style) -> None:
    """Outline layout: a parent sits level with its first child, the other children
    below it, and each box as high as its column allows (`free` holds the first free
    y of every column), so subtrees nest without the gaps of a block layout."""
    box.x = col_x[box.column]
    slot = _slot(box, st)
    cy = max(min_cy, free[box.column] + slot / 2)
    if box.children:
        first, *rest = box.children
        _place(first, cy, free, col_x, st)
        cy = below = first.cy
        for child in rest:
            _place(child, below, free, col_x, st)
            below = child.cy
    box.y = cy - box.h / 2
    free[box.column] = max(free[box.column], cy + slot / 2 + st.v_gap)


def _legend_height(legend: tuple[str, ...], st: Style) -> float:
    # Title row of kind chips, then one line per legend line.
    return 2 * st.pad + 24 + len(legend) * st.legend_size * 1.5


# --- arrows -----------------------------------------------------------------------

KEY_BADGE = 20.0
"""Side of the square that shows a menu option's key on its arrow."""


def _label_lines(edge: DiagramEdge, st: Style) -> tuple[str, ...]:
    lines = wrap(edge.label, st.label_max, st.label_size, 3) if edge.label else ()
    if edge.topic:
        lines += (f"topic {edge.topic}",)
    return lines


def _label_width(edge: DiagramEdge, lines: tuple[str, ...], st: Style) -> float:
    text = max((text_width(line, st.label_size, bold=True) for line in lines), default=0.0)
    badge = KEY_BADGE + (6 if lines else 0) if edge.key is not None else 0.0
    return badge + text + 14


def _label_height(edge: DiagramEdge, lines: tuple[str, ...], st: Style) -> float:
    text = len(lines) * st.label_size * st.line
    return max(text, KEY_BADGE if edge.key is not None else 0.0) + 8


def _wires(box: Box, st: Style) -> Iterable[Wire]:
    if not box.children:
        return
    sx = box.x + box.w
    sy = box.cy
    bus = sx + st.stub
    for child in box.children:
        edge = child.edges_in[0]
        ty = child.cy
        # A give-up arrow runs beside the options' shared vertical, not on top of it.
        x = bus + 7 if edge.kind == "failure" else bus
        points: tuple[tuple[float, float], ...]
        if abs(ty - sy) < 0.5:
            points = ((sx, sy), (child.x, ty))
        else:
            points = ((sx, sy), (x, sy), (x, ty), (child.x, ty))
        lines = _label_lines(edge, st)
        labelled = bool(lines) or edge.key is not None
        lw = _label_width(edge, lines, st) if labelled else 0.0
        lh = _label_height(edge, lines, st) if labelled else 0.0
        yield Wire(edge, points, lines, x + st.label_pad, ty, lw, lh)
