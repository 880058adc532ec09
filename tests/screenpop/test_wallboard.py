"""The wallboard's counts follow the call events; agent states follow their pops."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from screenpop.outlook import Flood, Outlook
from screenpop.pops import AgentRef, PopMachine
from screenpop.wallboard import AgentLine, Wallboard

LINES = [AgentLine("1", "alice", "PJSIP/101", "agent"), AgentLine("2", "bob", "PJSIP/102", "agent")]


@dataclass(frozen=True)
class Ev:
    type: str
    call_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    at: str = "2026-11-23T10:00:00.000Z"


def snapshot(
    board: Wallboard,
    machine: PopMachine | None = None,
    online: frozenset[str] = frozenset({"1", "2"}),
) -> dict[str, Any]:
    pops = machine or PopMachine(lambda _i: None)
    return board.snapshot(
        now="t", agents=LINES, pops_of=pops.pops_of, online=lambda agent_id: agent_id in online
    )


def test_calls_in_the_ivr_are_counted_by_node() -> None:
    board = Wallboard()
    for call in ("a", "b", "c"):
        board.handle(Ev("ivr.started", call, {"flow": "main", "caller": {"number": "1"}}))
    board.handle(Ev("ivr.node", "a", {"node": "billing", "kind": "menu"}))
    board.handle(Ev("ivr.node", "b", {"node": "billing", "kind": "menu"}))
    board.handle(Ev("ivr.node", "c", {"node": "sales", "kind": "menu"}))
    board.handle(Ev("ivr.ended", "c", {"outcome": "queue"}))
    assert snapshot(board)["ivr"] == {
        "total": 2,
        "nodes": [{"flow": "main", "node": "billing", "calls": 2}],
    }


def test_waiting_calls_leave_the_queue_however_they_go() -> None:
    board = Wallboard()
    for call in ("a", "b", "c"):
        board.handle(Ev("queue.joined", call, {"queue": "billing", "priority": 0}))
    board.handle(Ev("queue.left", "a", {"queue": "billing", "reason": "connected"}))
    board.handle(Ev("call.hungup", "b", {"cause": "16"}))  # no queue.left: AMI was away
    view = snapshot(board)
    assert [(q["queue"], q["waiting"]) for q in view["queues"]] == [("billing", 1)]
    assert view["totals"]["handled"] == 1


def test_vip_callers_are_listed_first() -> None:
    board = Wallboard()
    board.handle(Ev("queue.joined", "normal", {"queue": "billing", "priority": 0}))
    board.handle(
        Ev(
            "queue.joined",
            "vip",
            {"queue": "billing", "priority": 10},
            at="2026-11-23T10:00:05.000Z",
        )
    )
    calls = snapshot(board)["queues"][0]["calls"]
    assert [c["call_id"] for c in calls] == ["vip", "normal"]


def test_agent_states_come_from_their_pops() -> None:
    machine = PopMachine(
        lambda i: {"PJSIP/101": AgentRef("1", "alice"), "PJSIP/102": AgentRef("2", "bob")}.get(i)
    )
    machine.handle(Ev("agent.ringing", "c1", {"interface": "PJSIP/101", "queue": "q"}))
    machine.handle(Ev("agent.connected", "c2", {"interface": "PJSIP/102", "queue": "q"}))
    states = {a["name"]: a["state"] for a in snapshot(Wallboard(), machine)["agents"]}
    assert states == {"alice": "ringing", "bob": "on_call"}


def test_an_agent_whose_device_the_pbx_reports_on_a_call_no_pop_shows_is_on_a_call() -> None:
    machine = PopMachine(lambda i: {"PJSIP/102": AgentRef("2", "bob")}.get(i))
    machine.handle(Ev("agent.ringing", "c1", {"interface": "PJSIP/102", "queue": "q"}))
    devices = {"1": "2026-11-23T09:58:00.000Z", "2": "2026-11-23T09:59:00.000Z"}
    view = Wallboard().snapshot(
        now="t",
        agents=LINES,
        pops_of=machine.pops_of,
        online=lambda _agent_id: True,
        in_call_since=devices.get,
    )
    alice, bob = view["agents"]
    # alice: no pop (a click-to-dial call, a virtual flood call): on a call since the PBX said
    assert (alice["state"], alice["since"], alice["call_id"]) == (
        "on_call",
        "2026-11-23T09:58:00.000Z",
        None,
    )
    assert (bob["state"], bob["call_id"]) == ("ringing", "c1")  # the pop says more
    assert view["totals"]["talking"] == 1


def test_agents_without_a_panel_open_are_offline() -> None:
    states = {
        a["name"]: a["state"] for a in snapshot(Wallboard(), online=frozenset({"1"}))["agents"]
    }
    assert states == {"alice": "available", "bob": "offline"}


def test_the_board_shows_each_instances_dialplan_version_and_the_calls_still_on_the_old_one() -> (
    None
):
    board = Wallboard()
    board.handle(
        Ev(
            "dialplan.reloaded",
            "",
            {"instance": "a", "hash": "old0000000aa", "loaded_at": "2026-11-23T09:00:00.000Z"},
        )
    )
    board.handle(Ev("ivr.started", "c1", {"flow": "main", "version": {"hash": "old0000000aa"}}))
    board.handle(
        Ev(
            "dialplan.reloaded",
            "",
            {"instance": "a", "hash": "new0000000bb", "loaded_at": "2026-11-23T10:00:00.000Z"},
        )
    )
    board.handle(Ev("ivr.started", "c2", {"flow": "main", "version": {"hash": "new0000000bb"}}))
    board.handle(Ev("ivr.started", "c3", {"flow": "main", "version": {"hash": "new0000000bb"}}))
    assert snapshot(board)["dialplan"] == {
        "instances": [
            {"instance": "a", "version": "new0000000bb", "loaded_at": "2026-11-23T10:00:00.000Z"}
        ],
        "calls_by_version": [
            {"version": "new0000000bb", "calls": 2},
            {"version": "old0000000aa", "calls": 1},
        ],
    }


def test_a_queue_shows_its_callers_from_the_bus_and_its_wait_and_callbacks_from_the_database() -> (
    None
):
    board = Wallboard()
    board.handle(Ev("queue.joined", "a", {"queue": "billing", "priority": 0}))
    outlook = Outlook(
        ewt_s={"billing": 300, "sales": None},
        callbacks_pending={"billing": 0, "support": 2},
        flood=Flood(True, "known-outage"),
    )
    view = board.snapshot(
        now="t",
        agents=LINES,
        pops_of=PopMachine(lambda _i: None).pops_of,
        online=lambda _a: True,
        outlook=outlook,
    )
    rows = [(q["queue"], q["waiting"], q["ewt_s"], q["callbacks_pending"]) for q in view["queues"]]
    assert rows == [("billing", 1, 300, 0), ("sales", 0, None, 0), ("support", 0, None, 2)]
    assert view["flood"] == {"active": True, "message": "known-outage"}
