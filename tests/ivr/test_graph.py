"""Flow diagrams: the model every format draws, the SVG layout, and safe text in all three."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from itertools import combinations
from typing import Any

import pytest

from ivr.flow import Flow
from ivr.graph.dot import render_dot
from ivr.graph.layout import REF, Box, layout
from ivr.graph.mermaid import render_mermaid
from ivr.graph.model import build
from ivr.graph.svg import render_svg

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = 'Press 1 </text><script>alert("x")</script> & "quote" \\N #35; |pipe| ]] \x07bell %%{init: {}}%%'


def flow(nodes: dict[str, Any], entry: str = "menu", **top: Any) -> Flow:
    return Flow.model_validate({"id": "main", "entry": entry, "nodes": nodes, **top})


def menu(text: str, options: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "menu", "prompts": [{"sound": "m", "text": text}], "options": options, **extra}


def queue(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "transfer", "queue": name, **extra}


SMALL = flow(
    {
        "menu": menu(
            "For billing press 1, for support press 2.",
            {"1": {"goto": "billing", "topic": "billing", "label": "Billing"}, "2": "support"},
            on_failure="support",
        ),
        "billing": queue("billing", priority=2),
        "support": queue("support"),
    },
    settings={"operator": "support"},
)


def four_by_four() -> Flow:
    """The largest tree the 4x4 rule allows: 4 menu levels of 4 options each."""
    nodes: dict[str, Any] = {}

    def grow(node_id: str, level: int) -> None:
        options = {}
        for key in "1234":
            child = f"{node_id}_{key}"
            options[key] = {"goto": child, "label": f"Choice {key} of {node_id}"}
            if level < 4:
                grow(child, level + 1)
            else:
                nodes[child] = queue("q" + child.replace("_", ""))
        nodes[node_id] = menu(f"Menu {node_id}: press 1, 2, 3 or 4 for the four choices.", options)

    grow("m", 1)
    return flow(nodes, entry="m")


# --- the model ------------------------------------------------------------------------


def test_menu_options_are_arrows_labelled_with_their_key() -> None:
    edges = build(SMALL).outgoing("menu")
    options = [(e.key, e.target, e.label, e.topic) for e in edges if e.kind == "option"]
    assert options == [("1", "billing", "Billing", "billing"), ("2", "support", "", None)]


def test_global_keys_are_in_the_legend_once_and_never_arrows() -> None:
    diagram = build(SMALL)
    assert all(e.key not in ("0", "*", "#") for e in diagram.edges)
    legend = " ".join(diagram.legend)
    assert legend.count("0 → Support (support)") == 1
    assert "* → previous menu" in legend and "# → repeat the menu" in legend


def test_an_explicit_on_failure_is_drawn_the_default_is_not() -> None:
    failures = [e for e in build(SMALL).edges if e.kind == "failure"]
    assert [(e.source, e.target) for e in failures] == [("menu", "support")]
    plain = flow({"menu": menu("Press 1.", {"1": "q"}), "q": queue("q")})
    assert not [e for e in build(plain).edges if e.kind == "failure"]


def test_a_lookup_without_unavailable_shares_the_not_found_arrow() -> None:
    lookup = flow(
        {
            "who": {"type": "lookup", "found": "a", "not_found": "b"},
            "a": queue("a"),
            "b": queue("b"),
        },
        entry="who",
    )
    assert [(e.target, e.label) for e in build(lookup).outgoing("who")] == [
        ("a", "found"),
        ("b", "not found / CRM down"),
    ]


def test_a_dangling_target_is_drawn_as_missing_instead_of_failing() -> None:
    diagram = build(flow({"menu": menu("Press 1.", {"1": "nowhere"})}))
    assert diagram.node("nowhere").kind == "missing"


def test_a_goto_into_another_flow_says_where_the_call_continues() -> None:
    diagram = build(
        flow({"menu": menu("Press 1.", {"1": "tech"}), "tech": {"type": "goto", "flow": "tech"}})
    )
    assert "continues in flow tech" in diagram.node("tech").details
    assert diagram.outgoing("tech") == ()


# --- the layout -------------------------------------------------------------------------


def overlapping(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


@pytest.mark.parametrize("subject", [SMALL, four_by_four()], ids=["small", "4x4"])
def test_no_two_boxes_overlap_and_all_fit_the_canvas(subject: Flow) -> None:
    lay = layout(build(subject))
    for a, b in combinations(lay.boxes, 2):
        assert not overlapping(a, b), (a.node.id, b.node.id)
    for box in lay.boxes:
        assert 0 <= box.x and box.x + box.w <= lay.width
        assert lay.tree_y <= box.y and box.y + box.h <= lay.height


def test_every_node_is_drawn_once_and_shared_targets_get_a_reference() -> None:
    shared = flow(
        {
            "menu": menu("Press 1 or 2.", {"1": "a", "2": "b"}),
            "a": menu("Press 1.", {"1": "q"}),
            "b": menu("Press 1.", {"1": "q"}),
            "q": queue("q"),
        }
    )
    boxes = layout(build(shared)).boxes
    real = [b.node.id for b in boxes if b.node.kind != REF]
    assert sorted(real) == ["a", "b", "menu", "q"]
    assert [b.ref for b in boxes if b.node.kind == REF] == ["q"]


def test_every_arrow_ends_at_the_left_edge_of_its_box() -> None:
    lay = layout(build(SMALL))
    boxes = {id(b): b for b in lay.boxes}
    ends = {(round(w.points[-1][0], 3), round(w.points[-1][1], 3)) for w in lay.wires}
    children = {(round(b.x, 3), round(b.cy, 3)) for b in boxes.values() if b.edges_in}
    assert ends == children


def test_the_4x4_tree_reads_left_to_right_one_column_per_level() -> None:
    lay = layout(build(four_by_four()))
    columns: dict[int, set[float]] = {b.node.id.count("_"): set() for b in lay.boxes}
    for box in lay.boxes:
        columns[box.node.id.count("_")].add(box.x)
    assert all(len(xs) == 1 for xs in columns.values())
    assert sorted(min(xs) for xs in columns.values()) == [
        min(xs) for _, xs in sorted(columns.items())
    ]


# --- SVG --------------------------------------------------------------------------------


def hostile_flow() -> Flow:
    return flow(
        {
            "menu": menu(HOSTILE, {"1": {"goto": "q", "label": HOSTILE}}, label=HOSTILE),
            "q": queue("q", prompts=[{"sound": "x", "text": HOSTILE}]),
        },
        description=HOSTILE,
    )


def test_the_svg_is_well_formed_and_keeps_hostile_text_as_text() -> None:
    svg = render_svg(hostile_flow())
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert not list(root.iter(f"{SVG}script"))
    texts = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "<script>alert(" in texts
    assert "\x07" not in svg


def test_the_svg_is_sized_to_its_content_and_fonts_are_readable() -> None:
    root = ET.fromstring(render_svg(four_by_four()))
    width, height = float(root.get("width", "0")), float(root.get("height", "0"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert 1000 < width < 6000 and 1000 < height < 40000
    sizes = [float(t.get("font-size", "12")) for t in root.iter(f"{SVG}text")]
    assert min(sizes) >= 10


def test_the_svg_shows_prompts_keys_and_node_kinds() -> None:
    svg = render_svg(SMALL)
    assert "For billing press 1" in svg
    assert ">1</text>" in svg and "Billing</text>" in svg
    assert "MENU</text>" in svg and "TRANSFER</text>" in svg


# --- Mermaid ----------------------------------------------------------------------------

_MERMAID_NODE = re.compile(
    r'^    n\d+(\[|\[/|\[\(|\{|\{\{|>|\(|\[\[)"[^"]*"(\]|/\]|\)\]|\}|\}\}|\)|\]\])$'
)
_MERMAID_EDGE = re.compile(r'^    (n\d+|start) (-->|-\.->)(\|"[^"]*"\|)? n\d+$')


def test_mermaid_lines_are_all_valid_statements_even_with_hostile_text() -> None:
    text = render_mermaid(hostile_flow())
    lines = text.splitlines()
    assert lines[0].startswith("%% IVR flow main")
    assert "flowchart LR" in lines
    for line in lines:
        if line.startswith("%%") or line == "flowchart LR":
            assert "\n" not in line
            continue
        assert (
            _MERMAID_NODE.match(line)
            or _MERMAID_EDGE.match(line)
            or re.match(r'^    (start\(\("call"\)\)|legend\["[^"]*"\])$', line)
            or re.match(r"^    (classDef|class) [\w,]+ ", line)
        ), line
    assert "<script" not in text
    assert "%%{" not in text
    assert "#lt;script#gt;" in text and "#quot;quote#quot;" in text and "#35;35;" in text


# --- DOT --------------------------------------------------------------------------------

_DOT_TOKEN = re.compile(
    r'\s+|"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_.]*|-?\d+(?:\.\d+)?|->|[{}\[\];,=]'
)


def dot_tokens(text: str) -> list[str]:
    """Tokenize DOT; fails on anything outside the language (an unterminated string)."""
    tokens, at = [], 0
    while at < len(text):
        m = _DOT_TOKEN.match(text, at)
        assert m, f"not DOT at {at}: {text[at : at + 40]!r}"
        if not m.group().isspace():
            tokens.append(m.group())
        at = m.end()
    return tokens


def test_dot_strings_are_quoted_and_escaped_even_with_hostile_text() -> None:
    text = render_dot(hostile_flow())
    tokens = dot_tokens(text)
    assert tokens[:3] == ["digraph", '"main"', "{"] and tokens[-1] == "}"
    assert tokens.count("{") == tokens.count("}")
    assert "\\\\N" in text  # a prompt's backslash can never become Graphviz's \N
    assert '\\"quote\\"' in text
    assert "\x07" not in text
