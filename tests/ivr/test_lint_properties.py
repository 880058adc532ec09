"""Lint never fails on a flow that loads, whatever its shape (loops, dangling targets,
gotos between flows), and every finding is a well-formed line."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.flow import Flow
from ivr.lint import RULES, lint_flows

NAMES = ["a", "b", "c", "d", "e", "f"]
FLOWS = ["main", "sub"]

target = st.sampled_from([*NAMES, "nowhere"])
key = st.sampled_from(list("0123456789*#"))


@st.composite
def node(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            ["menu", "play", "branch", "lookup", "hours", "input", "transfer", "hangup", "goto"]
        )
    )
    if kind == "menu":
        options = draw(st.dictionaries(key, target, min_size=1, max_size=6))
        menu: dict[str, Any] = {"type": "menu", "prompts": ["m"], "options": options}
        if draw(st.booleans()):
            menu["on_failure"] = draw(target)
        return menu
    if kind == "play":
        return {"type": "play", "prompts": ["p"], "next": draw(target)}
    if kind == "branch":
        return {
            "type": "branch",
            "cases": [{"when": "customer.found", "goto": draw(target)}],
            "default": draw(target),
        }
    if kind == "lookup":
        return {"type": "lookup", "found": draw(target), "not_found": draw(target)}
    if kind == "hours":
        return {
            "type": "hours",
            "timezone": "UTC",
            "weekly": {"mon": "09:00-17:00"},
            "open": draw(target),
            "closed": draw(target),
        }
    if kind == "input":
        return {"type": "input", "variable": "v", "prompts": ["i"], "next": draw(target)}
    if kind == "transfer":
        return {"type": "transfer", "queue": "q"}
    if kind == "hangup":
        return {"type": "hangup"}
    return {
        "type": "goto",
        "flow": draw(st.sampled_from([*FLOWS, "gone"])),
        "node": draw(st.one_of(st.none(), target)),
    }


@st.composite
def flow(draw: st.DrawFn, flow_id: str) -> Flow:
    nodes = draw(st.dictionaries(st.sampled_from(NAMES), node(), min_size=1, max_size=6))
    keys = {
        "operator": draw(st.sampled_from(["0", None])),
        "back": draw(st.sampled_from(["*", None])),
    }
    return Flow.model_validate(
        {"id": flow_id, "entry": draw(target), "settings": {"keys": keys}, "nodes": nodes}
    )


@settings(max_examples=100, deadline=None)
@given(main=flow("main"), sub=flow("sub"))
def test_lint_reports_and_never_raises_on_any_loaded_flow(main: Flow, sub: Flow) -> None:
    for finding in lint_flows({"main": main, "sub": sub}):
        assert finding.rule in RULES
        assert finding.severity == RULES[finding.rule].severity
        assert "\n" not in finding.format()
