"""`ivr.replay`: a stored journey's answers, replayed through the simulator."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ivr.flow import Flow
from ivr.loader import load_dialplan
from ivr.replay import answers, replay
from ivr.simulator import FakeCrm, ScriptedKeys, parse_keys, simulate

ROOT = Path(__file__).resolve().parents[2]
FLOWS = load_dialplan(ROOT / "dialplan").flows
OPEN = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def stored(keys: str, flows: dict[str, Flow] | None = None) -> dict[str, object]:
    sim = simulate(
        flows or FLOWS,
        caller="+15550001111",
        keys=ScriptedKeys(parse_keys(keys)),
        crm=FakeCrm(),
        now=OPEN,
    )
    data = sim.journey.to_dict()
    data["started_at"] = "2026-12-07T15:00:00Z"
    return data


def test_answers_are_silences_then_keys_per_node_and_the_hang_up_last() -> None:
    data = stored("w 9 1 h")
    assert [token for _, token in answers(data)] == ["w", "9", "1", "h"]


def test_a_node_left_by_silences_had_its_keys_first() -> None:
    data = stored("9 w w")
    assert [token for _, token in answers(data)] == ["9", "w", "w"]


def test_a_replay_on_the_same_flows_reproduces_the_call_including_the_crm_answers() -> None:
    result = replay(FLOWS, stored("1 1 4000000002# 1"))
    assert result.divergence is None
    assert [s.node for s in result.replayed] == [s.node for s in result.stored]
    assert result.replayed_outcome == "queue billing, priority 2"


def test_a_masked_entry_is_replayed_as_one_the_node_accepts() -> None:
    flows = {k: v for k, v in FLOWS.items()}
    main = flows["main"]
    entry = main.nodes["account_entry"].model_copy(update={"sensitive": True})
    flows["main"] = main.model_copy(update={"nodes": {**main.nodes, "account_entry": entry}})
    data = stored("1 1 4000000002# 1", flows)
    steps: Any = data["steps"]
    assert "********02" in [k for s in steps for k in s["keys"]]
    result = replay(flows, data)
    assert result.divergence is None
    assert result.notes == [
        "masked entries replayed as entries the node accepts at main:account_entry"
    ]
