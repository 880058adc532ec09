"""`callpop simulate --crm FILE`: lookups answered from a customer CSV (the format
`callpop crm import` reads), where two customers may share one number.

A shared number identifies nobody: the flow asks for the account when its lookup has a
`several:` step, and otherwise routes the caller as unknown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from callpop.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialplan" / "flows" / "main.yaml"
MONDAY_MORNING = "2026-11-23T10:00:00-05:00"
SHARED = "+15551234567"

HOUSEHOLD = """name,phone,account,tier
Ann Smith,+15551234567,4000000002,vip
Bob Smith,+1 555 123 4567,4000000010,standard
"""

ACCOUNT_STEP = """
entry: identify
nodes:
  identify:
    type: lookup
    by: caller
    found: known
    not_found: unknown
    several: ask_account
  ask_account:
    type: input
    variable: account
    min_digits: 10
    max_digits: 10
    prompts: [{sound: enter-account, text: Please enter your account number.}]
    next: find_account
  find_account:
    type: lookup
    by: account
    variable: account
    found: known
    not_found: unknown
  known:
    type: transfer
    queue: customers
  unknown:
    type: transfer
    queue: everyone
"""


def simulate(flow: Path, crm: Path, keys: str, *extra: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            *("simulate", str(flow), "--caller", SHARED, "--keys", keys),
            *("--at", MONDAY_MORNING, "--crm", str(crm), *extra),
        ],
    )


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output + result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def household(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text(HOUSEHOLD)
    return path


def test_a_shared_number_in_the_sample_routes_the_caller_as_unknown(tmp_path: Path) -> None:
    run = as_json(simulate(SAMPLE, household(tmp_path), "3 1", "--json"))
    lookup = next(s for s in run["steps"] if s["action"] == "lookup")
    assert lookup["event"] == "several (2 customers)"
    identify = next(s for s in run["journey"]["steps"] if s["node"] == "identify")
    assert identify["result"] == "several"
    # Ann is vip: routing on "the first match" would have sent Bob to the Premier team.
    assert run["outcome"]["target"] == {"kind": "queue", "name": "sales", "priority": 3}
    assert "CALLPOP_CUSTOMER_ID" not in run["outcome"]["variables"]
    assert "CALLPOP_TIER" not in run["outcome"]["variables"]
    assert run["journey"]["identity"] == "none"


def test_a_shared_number_asks_for_the_account_when_the_flow_has_an_account_step(
    tmp_path: Path,
) -> None:
    flow = tmp_path / "main.yaml"
    flow.write_text(ACCOUNT_STEP)
    run = as_json(simulate(flow, household(tmp_path), "4000000010", "--json"))
    assert [s["node"] for s in run["journey"]["steps"]] == [
        "identify",
        "ask_account",
        "find_account",
        "known",
    ]
    assert run["outcome"]["variables"]["CALLPOP_CUSTOMER_ID"] == "2"  # Bob, by his account
    assert run["journey"]["identity"] == "account+ani"  # Bob is one of the number's customers
    assert run["outcome"]["variables"]["CALLPOP_VERIFIED"] == "1"


def test_the_walk_for_people_says_the_number_is_shared(tmp_path: Path) -> None:
    flow = tmp_path / "main.yaml"
    flow.write_text(ACCOUNT_STEP)
    result = simulate(flow, household(tmp_path), "4000000002")
    assert result.exit_code == 0, result.output
    assert f"CRM lookup by phone {SHARED}: several (2 customers)" in result.stdout
    assert "main:ask_account  asks “Please enter your account number.”" in result.stdout


def test_a_row_the_import_would_reject_is_one_line_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(HOUSEHOLD + "Carl,not a phone\n")
    result = simulate(SAMPLE, path, "3 1")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {path}:4: ")
    assert result.stderr.count("\n") == 1


def test_a_crm_that_is_neither_a_mode_nor_a_file_is_a_usage_error(tmp_path: Path) -> None:
    result = simulate(SAMPLE, tmp_path / "missing.csv", "3 1")
    assert result.exit_code == 2
    assert "is none of found, none, down, db, nor a customer CSV file" in result.stderr
