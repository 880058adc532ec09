"""CompiledFlows.entry: a node and the EnterNode announcing it, built once for all calls."""

from __future__ import annotations

import pytest

from ivr.actions import EnterNode
from ivr.compile_flow import compile_flows
from ivr.errors import FlowError

from .session_driver import make_flow, menu, queue

FLOWS = compile_flows({"main": make_flow({"start": menu({"1": "sales"}), "sales": queue("sales")})})


def test_entry_is_the_node_and_the_enter_node_that_announces_it() -> None:
    node, entered = FLOWS.entry(("main", "sales"))
    assert node is FLOWS["main"].nodes["sales"]
    assert entered == EnterNode("main", "sales", "transfer")


def test_entry_is_built_once_and_shared_between_calls() -> None:
    assert FLOWS.entry(("main", "start"))[1] is FLOWS.entry(("main", "start"))[1]


def test_an_unknown_node_or_flow_is_a_flow_error() -> None:
    with pytest.raises(FlowError):
        FLOWS.entry(("main", "nowhere"))
    with pytest.raises(FlowError):
        FLOWS.entry(("elsewhere", "start"))
