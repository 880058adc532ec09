"""`callpop simulate` through a pin node: the made-up customer's PIN is `--pin`, the
check is shown with its answer, and the digits appear nowhere in the output."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from callpop.cli import cli

PIN = "4821"
FLOW = """
entry: identify
nodes:
  identify:
    type: lookup
    by: caller
    found: check_pin
    not_found: unverified
  check_pin:
    type: pin
    prompts: [{sound: enter-pin, text: Please enter your PIN.}]
    verified: verified
    failed: unverified
  verified: {type: transfer, queue: payments}
  unverified: {type: transfer, queue: billing}
"""


def simulate(tmp_path: Path, keys: str, *extra: str) -> Result:
    flow = tmp_path / "main.yaml"
    flow.write_text(FLOW)
    return CliRunner().invoke(
        cli,
        [
            *("simulate", str(flow), "--caller", "+15551234567", "--crm", "found"),
            *("--pin", PIN, "--keys", keys, "--at", "2026-11-23T10:00:00-05:00", *extra),
        ],
    )


def test_the_right_pin_verifies_the_simulated_caller(tmp_path: Path) -> None:
    result = simulate(tmp_path, f"{PIN}#", "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    collect = next(s for s in run["steps"] if s["action"] == "collect")
    assert collect["keys"] == "****#"
    check = next(s for s in run["steps"] if s["action"] == "pin-check")
    assert check["event"] == "verified"
    assert run["journey"]["identity"] == "pin"
    assert run["outcome"]["variables"]["CALLPOP_VERIFIED"] == "1"
    assert PIN not in result.stdout


def test_wrong_pins_are_asked_again_then_fail_and_show_no_digits(tmp_path: Path) -> None:
    result = simulate(tmp_path, "1111# 987654# 2222#")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("PIN check for customer SIM-") == 3
    assert result.stdout.count(": wrong") == 3
    assert "Outcome: transfer to queue billing (pin-failed)" in result.stdout
    for digits in ("1111", "987654", "2222"):
        assert digits not in result.stdout
