"""The pop lifecycle (design.md, "Asterisk side"): pops follow the queue, one pop per
call per agent, every offer retracted when the call goes elsewhere or ends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from screenpop.pops import (
    TRANSITIONS,
    AgentRef,
    Pop,
    PopError,
    PopMachine,
    PopState,
    normalise_interface,
)

AGENTS = {
    "PJSIP/101": AgentRef("1", "alice"),
    "PJSIP/102": AgentRef("2", "bob"),
    "Local/8100@callpop-agents": AgentRef("3", "carol"),
}


@dataclass(frozen=True)
class Ev:
    type: str
    call_id: str
    data: Mapping[str, Any] = field(default_factory=dict)
    at: str = "2026-11-23T10:00:00.000Z"


def ring(iface: str, call: str = "c1", queue: str = "billing") -> Ev:
    return Ev("agent.ringing", call, {"queue": queue, "interface": iface, "member_name": iface})


def connect(iface: str, call: str = "c1") -> Ev:
    return Ev("agent.connected", call, {"queue": "billing", "interface": iface})


def no_answer(iface: str, call: str = "c1") -> Ev:
    return Ev("agent.ring_no_answer", call, {"queue": "billing", "interface": iface})


def complete(iface: str, call: str = "c1") -> Ev:
    return Ev("agent.completed", call, {"queue": "billing", "interface": iface})


def hangup(call: str = "c1") -> Ev:
    return Ev("call.hungup", call, {"cause": "16"})


def machine() -> PopMachine:
    return PopMachine(lambda iface: AGENTS.get(iface), lambda call_id: {"call": call_id})


def kinds(changes: list[Any]) -> list[tuple[str, str]]:
    return [(c.kind, c.agent_id) for c in changes]


def test_agent_called_offers_the_pop_to_that_agent_only() -> None:
    m = machine()
    assert kinds(m.handle(ring("PJSIP/101"))) == [("offered", "1")]
    assert [p.state for p in m.pops_of("1")] == [PopState.OFFERED]
    assert m.pops_of("2") == []


def test_the_first_pop_carries_the_payload_known_at_ring_time() -> None:
    (change,) = machine().handle(ring("PJSIP/101", call="c9"))
    assert change.view["payload"] == {"call": "c9"}
    assert change.view["call_id"] == "c9" and change.view["queue"] == "billing"


def test_connect_makes_the_pop_live() -> None:
    m = machine()
    m.handle(ring("PJSIP/101"))
    assert kinds(m.handle(connect("PJSIP/101"))) == [("accepted", "1")]


def test_completion_moves_the_pop_to_wrapup_and_a_disposition_ends_it() -> None:
    m = machine()
    m.handle(ring("PJSIP/101"))
    m.handle(connect("PJSIP/101"))
    assert kinds(m.handle(complete("PJSIP/101"))) == [("wrapup", "1")]
    assert kinds(m.dispose("c1", "1", "resolved", "paid", at="t")) == [("done", "1")]
    assert m.pops_of("1") == []


def test_ring_no_answer_retracts_the_offer() -> None:
    m = machine()
    m.handle(ring("PJSIP/101"))
    (change,) = m.handle(no_answer("PJSIP/101"))
    assert (change.kind, change.view["reason"]) == ("retracted", "no_answer")
    assert m.pops_of("1") == []


def test_the_same_agent_rung_again_gets_a_new_offer_of_the_same_pop() -> None:
    # queue-noanswer.txt: AgentCalled, AgentRingNoAnswer, AgentCalled again
    m = machine()
    first = m.handle(ring("PJSIP/101"))[0]
    m.handle(no_answer("PJSIP/101"))
    again = m.handle(ring("PJSIP/101"))[0]
    assert again.kind == "offered"
    assert again.view["pop_id"] == first.view["pop_id"]
    assert again.view["offers"] == 2
    assert len(m.pops_of("1")) == 1


def test_ring_all_losers_are_retracted_when_one_agent_answers() -> None:
    m = machine()
    m.handle(ring("PJSIP/101"))
    m.handle(ring("PJSIP/102"))
    m.handle(ring("Local/8100@callpop-agents/n"))
    changes = m.handle(connect("PJSIP/102"))
    assert kinds(changes) == [("accepted", "2"), ("retracted", "1"), ("retracted", "3")]
    assert {c.view["reason"] for c in changes if c.kind == "retracted"} == {"answered_elsewhere"}
    assert m.pops_of("1") == [] and m.pops_of("3") == []


@pytest.mark.parametrize(
    "ending",
    [
        Ev("queue.left", "c1", {"queue": "billing", "reason": "abandoned"}),
        Ev("queue.left", "c1", {"queue": "billing", "reason": "timeout"}),
        hangup(),
    ],
)
def test_an_offer_is_retracted_when_the_caller_leaves(ending: Ev) -> None:
    m = machine()
    m.handle(ring("PJSIP/101"))
    assert kinds(m.handle(ending)) == [("retracted", "1")]


def test_queue_left_connected_changes_nothing_by_itself() -> None:
    m = machine()
    m.handle(ring("PJSIP/101"))
    assert m.handle(Ev("queue.left", "c1", {"queue": "billing", "reason": "connected"})) == []


def test_a_hangup_during_the_call_moves_it_to_wrapup_once() -> None:
    m = machine()
    m.handle(ring("PJSIP/101"))
    m.handle(connect("PJSIP/101"))
    assert kinds(m.handle(hangup())) == [("wrapup", "1")]
    assert m.handle(complete("PJSIP/101")) == []


def test_a_hangup_never_creates_a_pop() -> None:
    m = machine()
    assert m.handle(hangup()) == []
    assert m.handle(ring("PJSIP/101")) == []  # a late replay after the hang-up


def test_answer_reported_twice_pops_once() -> None:
    # AMI AgentConnect and the /connected FastAGI route both report the answer
    m = machine()
    assert kinds(m.handle(connect("PJSIP/101"))) == [("accepted", "1")]
    assert m.handle(connect("PJSIP/101")) == []


def test_a_transfer_repops_at_the_new_agent_with_the_first_agents_notes() -> None:
    m = machine()
    m.handle(ring("PJSIP/101"))
    m.handle(connect("PJSIP/101"))
    m.set_notes("c1", "1", "wants a refund of the May invoice")
    m.handle(complete("PJSIP/101"))
    (offer,) = m.handle(ring("PJSIP/102", queue="refunds"))
    assert offer.agent_id == "2" and offer.kind == "offered"
    assert offer.view["handoff"] == [
        {"agent": "alice", "notes": "wants a refund of the May invoice"}
    ]
    assert offer.view["payload"] == {"call": "c1"}


def test_notes_changed_after_a_transfer_reach_the_new_agent() -> None:
    m = machine()
    m.handle(connect("PJSIP/101"))
    m.handle(complete("PJSIP/101"))
    m.handle(ring("PJSIP/102"))
    changes = m.set_notes("c1", "1", "second thoughts")
    assert ("updated", "2") in kinds(changes)


def test_an_agent_never_has_two_pops_of_one_call() -> None:
    m = machine()
    for event in (
        ring("PJSIP/101"),
        ring("PJSIP/101"),
        connect("PJSIP/101"),
        connect("PJSIP/101"),
        complete("PJSIP/101"),
        ring("PJSIP/101"),
    ):
        m.handle(event)
        assert len(m.pops_of("1")) <= 1


def test_interfaces_of_other_pbx_users_do_not_pop() -> None:
    assert machine().handle(ring("PJSIP/999")) == []


def test_a_disposition_during_the_call_ends_the_pop_with_the_call() -> None:
    m = machine()
    m.handle(connect("PJSIP/101"))
    assert kinds(m.dispose("c1", "1", "resolved", "", at="t")) == [("updated", "1")]
    assert kinds(m.handle(complete("PJSIP/101"))) == [("done", "1")]


def test_a_ringing_pop_cannot_be_disposed() -> None:
    m = machine()
    m.handle(ring("PJSIP/101"))
    with pytest.raises(PopError):
        m.dispose("c1", "1", "resolved", "", at="t")


def test_another_agent_cannot_dispose_or_annotate_my_pop() -> None:
    m = machine()
    m.handle(connect("PJSIP/101"))
    with pytest.raises(PopError):
        m.dispose("c1", "2", "resolved", "", at="t")
    with pytest.raises(PopError):
        m.set_notes("c1", "2", "hi")


def test_a_finished_call_is_forgotten() -> None:
    m = machine()
    m.handle(connect("PJSIP/101"))
    m.handle(hangup())
    m.dispose("c1", "1", "resolved", "", at="t")
    assert not m.has_call("c1")


def test_payload_updates_reach_every_active_pop_of_the_call() -> None:
    m = machine()
    m.handle(ring("PJSIP/101"))
    m.handle(ring("PJSIP/102"))
    changes = m.set_payload("c1", {"customer": "Ann"})
    assert kinds(changes) == [("updated", "1"), ("updated", "2")]
    assert all(c.view["payload"] == {"customer": "Ann"} for c in changes)


def test_every_transition_lands_in_a_known_state() -> None:
    for (before, _trigger), after in TRANSITIONS.items():
        assert before is None or isinstance(before, PopState)
        assert isinstance(after, PopState)
    assert (PopState.RETRACTED, "hangup") not in TRANSITIONS


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Local/8100@callpop-agents/n", "Local/8100@callpop-agents"),
        ("local/8100@callpop-agents", "Local/8100@callpop-agents"),
        ("pjsip/101", "PJSIP/101"),
        ("PJSIP/101", "PJSIP/101"),
        ("SIP/alice", "SIP/alice"),
    ],
)
def test_interfaces_compare_the_way_asterisk_names_them(raw: str, normal: str) -> None:
    assert normalise_interface(raw) == normal


def test_calls_whose_hangup_never_came_do_not_pile_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import screenpop.pops as pops_module

    monkeypatch.setattr(pops_module, "MAX_CALLS", 2)
    m = machine()
    m.handle(ring("PJSIP/101", call="lost"))
    m.handle(no_answer("PJSIP/101", call="lost"))  # nothing on a desk, hang-up never seen
    m.handle(ring("PJSIP/101", call="live"))
    m.handle(ring("PJSIP/102", call="new"))
    assert not m.has_call("lost")
    assert m.has_call("live") and m.has_call("new")  # active pops are never shed
    assert m.handle(ring("PJSIP/101", call="lost")) == []


# --- pops read back from storage (a restart) ---------------------------------------------


def stored(state: PopState, call: str = "c1", agent: AgentRef = AGENTS["PJSIP/101"]) -> Pop:
    return Pop(
        call,
        agent,
        state,
        "2026-11-23T09:59:00.000Z",
        offers=1,
        queue="billing",
        interface="PJSIP/101",
        notes="asked about a refund",
    )


def test_a_restored_pop_is_the_agents_again_without_a_change_sent() -> None:
    m = machine()
    m.restore(stored(PopState.ACCEPTED))
    [pop] = m.pops_of("1")
    assert (pop.state, pop.notes) == (PopState.ACCEPTED, "asked about a refund")
    assert m.payload("c1") == {"call": "c1"}


def test_a_restored_live_pop_moves_on_with_the_calls_next_events() -> None:
    m = machine()
    m.restore(stored(PopState.ACCEPTED))
    assert kinds(m.handle(complete("PJSIP/101"))) == [("wrapup", "1")]
    assert kinds(m.dispose("c1", "1", "resolved", "", "2026-11-23T10:01:00.000Z")) == [
        ("done", "1")
    ]


def test_a_restored_pop_does_not_replace_what_the_bus_already_said() -> None:
    m = machine()
    m.handle(ring("PJSIP/101"))
    m.handle(connect("PJSIP/101"))
    m.restore(stored(PopState.OFFERED))
    assert [p.state for p in m.pops_of("1")] == [PopState.ACCEPTED]


def test_a_pop_that_ended_is_not_restored() -> None:
    m = machine()
    m.restore(stored(PopState.DONE))
    m.handle(hangup("c2"))
    m.restore(stored(PopState.WRAPUP, call="c2"))
    assert m.pops_of("1") == []
