"""Queue events as `queue_events` rows: which event makes which kind, with which reason,
at the event's own time (so that every instance writes the same row)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from screenpop.pops import AgentRef, PopChange
from screenpop.queue_log import queue_event, withdrawal

ALICE = AgentRef("7", "alice")
AT = "2026-12-06T09:15:02.250Z"


@dataclass(frozen=True)
class Ev:
    type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    call_id: str = "c1"
    at: str = AT


def resolve(interface: str) -> AgentRef | None:
    return ALICE if interface == "PJSIP/101" else None


def test_an_offer_is_a_row_of_the_agent_at_the_events_own_time() -> None:
    row = queue_event(Ev("agent.ringing", {"queue": "billing", "interface": "PJSIP/101"}), resolve)
    assert row is not None
    assert (row.kind, row.queue, row.interface, row.agent_id, row.reason) == (
        "offered",
        "billing",
        "PJSIP/101",
        "7",
        None,
    )
    assert row.at == datetime(2026, 12, 6, 9, 15, 2, 250000, tzinfo=UTC)


def test_a_member_who_is_not_an_agent_of_ours_is_kept_without_an_agent() -> None:
    row = queue_event(Ev("agent.ring_no_answer", {"interface": "PJSIP/999"}), resolve)
    assert row is not None and (row.kind, row.agent_id) == ("no_answer", None)


def test_a_queue_leave_is_abandoned_or_left_with_its_reason() -> None:
    abandoned = queue_event(Ev("queue.left", {"queue": "q", "reason": "abandoned"}), resolve)
    timeout = queue_event(Ev("queue.left", {"queue": "q", "reason": "timeout"}), resolve)
    assert abandoned is not None and (abandoned.kind, abandoned.reason) == (
        "abandoned",
        "abandoned",
    )
    assert timeout is not None and (timeout.kind, timeout.reason) == ("left", "timeout")


def test_who_ended_a_talk_is_the_reason_of_completed() -> None:
    row = queue_event(
        Ev("agent.completed", {"interface": "PJSIP/101", "reason": "caller"}), resolve
    )
    assert row is not None and (row.kind, row.reason) == ("completed", "caller")


def test_ivr_events_and_unreadable_times_make_no_row() -> None:
    assert queue_event(Ev("ivr.node", {"node": "menu"}), resolve) is None
    assert queue_event(Ev("queue.joined", {"queue": "q"}, at="yesterday"), resolve) is None


def test_a_retracted_pop_is_a_withdrawal_with_why() -> None:
    view = {
        "call_id": "c1",
        "state": "retracted",
        "since": AT,
        "queue": "billing",
        "interface": "PJSIP/101",
        "reason": "answered_elsewhere",
    }
    row = withdrawal(PopChange("retracted", "7", view))
    assert row is not None
    assert (row.kind, row.agent_id, row.reason) == ("withdrawn", "7", "answered_elsewhere")
    assert withdrawal(PopChange("accepted", "7", {**view, "state": "accepted"})) is None
