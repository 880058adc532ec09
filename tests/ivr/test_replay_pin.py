"""Replaying a stored call through a pin node: the PINs were never stored, so each
entry is replayed as one of the right length and answered as the stored call's was."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.flow import Flow
from ivr.replay import replay
from ivr.simulator import SIMULATED_PIN, FakeCrm, ScriptedKeys, parse_keys, simulate

FLOWS = {
    "main": Flow.model_validate(
        {
            "entry": "who",
            "nodes": {
                "who": {"type": "lookup", "found": "pin", "not_found": "no"},
                "pin": {"type": "pin", "prompts": ["enter-pin"], "verified": "yes", "failed": "no"},
                "yes": {"type": "transfer", "queue": "payments"},
                "no": {"type": "transfer", "queue": "billing"},
            },
        }
    )
}


def stored(keys: str) -> dict[str, object]:
    sim = simulate(
        FLOWS,
        caller="+15550001111",
        keys=ScriptedKeys(parse_keys(keys)),
        crm=FakeCrm(),
        now=datetime(2026, 12, 7, 15, 0, tzinfo=UTC),
    )
    return sim.journey.to_dict()


@pytest.mark.parametrize(
    ("keys", "outcome"),
    [
        (f"0000# {SIMULATED_PIN}#", "queue payments"),
        ("0000# 1111# 2222#", "queue billing"),
    ],
)
def test_a_pin_step_replays_to_the_same_outcome(keys: str, outcome: str) -> None:
    data = stored(keys)
    assert SIMULATED_PIN not in str(data)
    result = replay(FLOWS, data)
    assert result.divergence is None
    assert result.replayed_outcome == outcome
