"""`ivr.reach`: the keys and seconds to each destination, found by the simulator."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ivr.loader import load_dialplan
from ivr.reach import circumstances, routes
from ivr.simulator import NoCrm, ScriptedKeys, simulate

ROOT = Path(__file__).resolve().parents[2]
FLOWS = load_dialplan(ROOT / "dialplan").flows
WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def test_circumstances_cover_open_closed_holiday_and_the_tiers_branches_ask_for() -> None:
    labels = [c.label for c in circumstances(FLOWS, "main", WHEN)]
    assert labels[:3] == ["open, caller unknown", "open, caller known", "open, vip caller"]
    assert "closed, caller unknown" in labels
    assert "holiday, caller unknown" in labels


def test_each_route_s_time_is_what_the_simulator_gives_for_its_keys() -> None:
    found = {(r.flow, r.node): r for r in routes(FLOWS, "main", WHEN)}
    complaint = found[("main", "complaint_followup")]
    assert complaint.keys == ("4", "3", "2")
    open_now = next(
        c for c in circumstances(FLOWS, "main", WHEN) if c.label == "open, caller unknown"
    ).now
    sim = simulate(
        FLOWS, caller="+15550100000", keys=ScriptedKeys(complaint.keys), crm=NoCrm(), now=open_now
    )
    assert sim.journey.outcome is not None
    assert complaint.ms == sim.journey.outcome.at_ms


def test_a_route_that_needs_no_key_and_one_only_after_hours() -> None:
    found = {(r.flow, r.node): r for r in routes(FLOWS, "main", WHEN)}
    assert (found[("main", "vip_team")].keys, found[("main", "vip_team")].when) == (
        (),
        "open, vip caller",
    )
    assert found[("main", "callback_voicemail")].when == "closed, caller unknown"
    assert found[("main", "callback_voicemail")].target == "voicemail 8000@acme"
