"""The frictions a new user met (issue 15), each through the CLI as they met it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from callpop.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialplan"
MONDAY_MORNING = "2026-11-23T10:00:00-05:00"
ACCOUNT = "4000000002"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _copy_sample(tmp_path: Path, edit: dict[str, str]) -> Path:
    """The sample dialplan in tmp_path, main.yaml with `edit` (old -> new) applied."""
    for source in SAMPLE.rglob("*.yaml"):
        target = tmp_path / source.relative_to(SAMPLE)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        if source.name == "main.yaml":
            for old, new in edit.items():
                assert old in text
                text = text.replace(old, new, 1)
        target.write_text(text, encoding="utf-8")
    return tmp_path / "flows" / "main.yaml"


def simulate(flow: Path, keys: str, *options: str) -> Result:
    return invoke(
        "simulate", str(flow), "--caller", "+15551234567", "--keys", keys,
        "--at", MONDAY_MORNING, *options,
    )  # fmt: skip


@pytest.fixture
def sensitive_account(tmp_path: Path) -> Path:
    return _copy_sample(
        tmp_path,
        {
            "    variable: account\n    min_digits": "    variable: account\n    sensitive: true\n    min_digits"
        },
    )


def test_a_sensitive_entry_is_masked_in_the_trace_the_read_back_and_the_lookup(
    sensitive_account: Path,
) -> None:
    result = simulate(sensitive_account, f"1 1 {ACCOUNT}# 1", "--crm", "found")
    assert result.exit_code == 0, result.output
    assert ACCOUNT not in result.stdout
    assert "→ the caller presses ********02#" in result.stdout
    assert "“* * * * * * * * 0 2”" in result.stdout  # the read-back, as text
    assert "CRM lookup by account ********02: found" in result.stdout


def test_a_sensitive_entry_is_masked_in_the_json_steps(sensitive_account: Path) -> None:
    result = simulate(sensitive_account, f"1 1 {ACCOUNT}# 1", "--crm", "found", "--json")
    assert result.exit_code == 0, result.output
    assert ACCOUNT not in result.stdout
    run: dict[str, Any] = json.loads(result.stdout)
    entry = [s for s in run["steps"] if s["node"] == "account_entry"]
    assert entry[0]["keys"] == "********02#"
    assert entry[1]["prompts"][1]["text"] == "* * * * * * * * 0 2"


def test_the_simulators_made_up_customer_id_carries_none_of_the_callers_digits(
    sensitive_account: Path,
) -> None:
    result = simulate(sensitive_account, f"1 1 {ACCOUNT}# 1", "--crm", "found", "--json")
    customer_id = json.loads(result.stdout)["outcome"]["variables"]["CALLPOP_CUSTOMER_ID"]
    assert customer_id.startswith("SIM-")
    assert not any(ACCOUNT[i : i + 3] in customer_id for i in range(len(ACCOUNT) - 2))


@pytest.mark.parametrize("written", ['"VIP"', '"vip"', '"Vip"'])
@pytest.mark.parametrize("tier", ["VIP", "vip"])
def test_tiers_compare_without_regard_to_case(tmp_path: Path, written: str, tier: str) -> None:
    flow = _copy_sample(tmp_path, {'customer.tier == "vip"': f"customer.tier == {written}"})
    result = simulate(flow, "", "--crm", "found", "--tier", tier, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outcome"]["target"]["name"] == "vip"


def test_a_tier_in_a_list_compares_without_regard_to_case(tmp_path: Path) -> None:
    flow = _copy_sample(tmp_path, {'customer.tier == "vip"': 'customer.tier in ["Gold", "VIP"]'})
    result = simulate(flow, "", "--crm", "found", "--tier", "vip", "--json")
    assert json.loads(result.stdout)["outcome"]["target"]["name"] == "vip"


@pytest.mark.parametrize(
    "where",
    [
        ["serve", "--config", "CONFIG"],
        ["--config", "CONFIG", "serve"],
        ["db", "upgrade", "--config", "CONFIG"],
        ["crm", "import", "--config", "CONFIG", "x.csv"],
    ],
)
def test_config_is_accepted_before_and_after_the_command(tmp_path: Path, where: list[str]) -> None:
    config = tmp_path / "callpop.yaml"
    config.write_text("web: 127.0.0.1:8080\nfastagi: nonsense\n", encoding="utf-8")
    (tmp_path / "x.csv").write_text("name,phone\n", encoding="utf-8")
    args = [
        str(config) if a == "CONFIG" else str(tmp_path / a) if a == "x.csv" else a for a in where
    ]
    result = invoke(*args)
    # The bad file was read (not "No such option"), whichever side of the command it is.
    assert result.exit_code == 1, result.output
    assert f"{config}:2:1" in result.stderr


BROKEN = """\
entry: main_menu
limits:
  max_options: {value: 5, reason: short}
nodes:
  main_menu:
    type: menu
    promtps: [hello]
    prompts: [hello]
    options: {"1": billing, "2": nowhere, "3": billing, "4": billing, "5": billing, "6": billing}
  billing:
    type: transfer
    queue: billing
    priorty: 3
"""


def test_lint_reports_every_finding_at_once_with_a_true_count(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    flow = tmp_path / "flows" / "main.yaml"
    flow.write_text(BROKEN, encoding="utf-8")
    result = invoke("lint", str(tmp_path))
    assert result.exit_code == 1
    rules = [line.rsplit("[", 1)[1].rstrip("]") for line in result.stdout.splitlines()]
    # The field errors no longer hide the dangling target and the 4x4 rule.
    assert rules == [
        "invalid-value",
        "menu-options",
        "unknown-field",
        "dangling-target",
        "unknown-field",
    ]
    assert f"{flow}:9:34: error: option 2 of 'main_menu' goes to 'nowhere'" in result.stdout
    assert (
        "the flow's limits.max_options is 5 (raised from 4: 'short (too short)')" in result.stdout
    )
    assert "1 file checked, 5 errors, 0 warnings" in result.stderr


def test_a_node_that_cannot_be_repaired_still_lets_the_others_be_checked(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    text = BROKEN.replace("    queue: billing\n    priorty: 3\n", "")
    (tmp_path / "flows" / "main.yaml").write_text(text, encoding="utf-8")
    result = invoke("lint", str(tmp_path))
    assert "a transfer has exactly one of queue, extension or agent" in result.stdout
    assert "[dangling-target]" in result.stdout and "[menu-options]" in result.stdout


CONDITIONAL = """\
entry: who
nodes:
  who: {type: lookup, found: menu, not_found: menu}
  menu:
    type: menu
    prompts: [{sound: acme-main-menu, text: For billing press 1.}]
    options:
      "1": {goto: billing}
      "9":
        goto: complaint
        when: customer.open_cases > 0
        prompts: [{sound: acme-complaint, text: "For your complaint, press 9."}]
  billing: {type: transfer, queue: billing}
  complaint: {type: transfer, queue: complaints}
"""


@pytest.mark.parametrize(("open_cases", "queue"), [("1", "complaints"), ("0", "billing")])
def test_simulate_offers_a_conditional_option_only_when_its_condition_holds(
    tmp_path: Path, open_cases: str, queue: str
) -> None:
    flow = tmp_path / "main.yaml"
    flow.write_text(CONDITIONAL, encoding="utf-8")
    result = simulate(flow, "9 1", "--crm", "found", "--open-cases", open_cases, "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    heard = [p["text"] for p in run["steps"][1]["prompts"]]
    offered = open_cases != "0"
    assert ("For your complaint, press 9." in heard) is offered
    assert run["outcome"]["target"]["name"] == queue
