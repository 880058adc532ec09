"""A pin node in the diagrams: its own kind, and an arrow for each way out."""

from __future__ import annotations

from ivr.flow import Flow
from ivr.graph.dot import render_dot
from ivr.graph.mermaid import render_mermaid
from ivr.graph.model import build
from ivr.graph.svg import render_svg

PIN_FLOW = Flow.model_validate(
    {
        "entry": "who",
        "nodes": {
            "who": {"type": "lookup", "found": "pin", "not_found": "no"},
            "pin": {
                "type": "pin",
                "prompts": [{"sound": "enter-pin", "text": "Your PIN, please."}],
                "verified": "yes",
                "failed": "no",
                "no_pin": "ask",
            },
            "yes": {"type": "transfer", "queue": "payments"},
            "no": {"type": "transfer", "queue": "billing"},
            "ask": {"type": "transfer", "queue": "accounts"},
        },
    }
)


def test_each_way_out_of_a_pin_node_is_an_arrow_failure_dashed() -> None:
    edges = [(e.target, e.kind, e.label) for e in build(PIN_FLOW).outgoing("pin")]
    assert edges == [
        ("yes", "result", "verified"),
        ("no", "failure", "not verified"),
        ("ask", "result", "no PIN"),
        ("no", "result", "CRM down"),
    ]


def test_every_format_names_the_pin_check() -> None:
    assert "PIN CHECK" in render_svg(PIN_FLOW)
    assert "PIN check" in render_svg(PIN_FLOW)  # the legend
    assert "fill:#f5f3ff" in render_mermaid(PIN_FLOW)
    assert "parallelogram" in render_dot(PIN_FLOW)
