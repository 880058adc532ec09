"""`callpop simulate` on the sample hotline: the paths the issue's acceptance lists.

Each test is one caller: the keys they press, and where the sample sends them. The
JSON document is what tools and these tests read; its shape is design.md's contract.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from callpop.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialplan" / "flows" / "main.yaml"
CALLER = "+15551234567"

MONDAY_MORNING = "2026-11-23T10:00:00-05:00"  # open: Mon-Fri 08:00-20:00 New York
SUNDAY = "2026-11-22T10:00:00-05:00"  # closed all day
CHRISTMAS = "2026-12-25T10:00:00-05:00"  # a Friday, but a holiday
VALID_ACCOUNT = "4000000002"  # ten digits, Luhn check digit 2


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["simulate", *args], input=input)


def call(keys: str, *options: str, at: str = MONDAY_MORNING, crm: str = "none") -> dict[str, Any]:
    result = invoke(
        str(SAMPLE),
        "--caller",
        CALLER,
        "--keys",
        keys,
        "--at",
        at,
        "--crm",
        crm,
        "--json",
        *options,
    )
    assert result.exit_code == 0, result.output + result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def heard(run: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(node, keys, event) at every listening point, in order."""
    return [(s["node"], s["keys"], s["event"]) for s in run["steps"] if s["action"] == "collect"]


def target(run: dict[str, Any]) -> tuple[str, str, int] | None:
    t = run["outcome"]["target"]
    return None if t is None else (t["kind"], t["name"], t["priority"])


def variable(run: dict[str, Any], name: str) -> str:
    value: str = run["outcome"]["variables"][name]
    return value


def reason(run: dict[str, Any]) -> str:
    why: str = run["journey"]["outcome"]["reason"]
    return why


# --- the happy paths -------------------------------------------------------------------


def test_a_billing_question_reaches_the_billing_team() -> None:
    run = call("1 2")
    assert heard(run) == [("main_menu", "1", "digits"), ("billing_menu", "2", "digits")]
    assert target(run) == ("queue", "billing", 1)
    assert variable(run, "CALLPOP_TOPIC") == "billing"
    assert run["outcome"]["type"] == "transfer"


def test_a_vip_caller_goes_straight_to_the_premier_team() -> None:
    run = call("", "--tier", "vip", crm="found")
    assert heard(run) == []
    assert target(run) == ("queue", "vip", 10)
    assert variable(run, "CALLPOP_TIER") == "vip"


def test_a_known_standard_customer_hears_the_main_menu() -> None:
    run = call("3 1", crm="found")
    assert [node for node, _, _ in heard(run)] == ["main_menu", "sales_menu"]
    assert target(run) == ("queue", "sales", 3)
    assert variable(run, "CALLPOP_CUSTOMER_ID").startswith("SIM-")


def test_a_confirmed_account_number_reaches_the_payments_team_unverified_from_another_phone() -> (
    None
):
    # --crm found makes up one customer per number asked: the caller ID's and the
    # account's are two customers, so the account alone does not verify the caller.
    run = call(f"1 1 {VALID_ACCOUNT}# 1", crm="found")
    assert heard(run)[-2:] == [
        ("account_entry", f"{VALID_ACCOUNT}#", "digits"),
        ("account_entry", "1", "digits"),
    ]
    read_back = [s for s in run["steps"] if s["action"] == "collect"][-1]["prompts"]
    assert {"sound": None, "text": " ".join(VALID_ACCOUNT), "say": "digits"} in read_back
    assert target(run) == ("queue", "billing", 2)
    assert variable(run, "CALLPOP_VERIFIED") == "0"
    assert run["journey"]["identity"] == "account"
    assert run["journey"]["identity_warning"] == "account-not-caller"
    assert variable(run, "CALLPOP_TOPIC") == "payments"


def test_pressing_2_at_the_read_back_asks_for_the_number_again() -> None:
    run = call(f"1 1 4000000010# 2 {VALID_ACCOUNT}# 1", crm="found")
    assert [keys for node, keys, _ in heard(run) if node == "account_entry"] == [
        "4000000010#",
        "2",
        f"{VALID_ACCOUNT}#",
        "1",
    ]
    assert target(run) == ("queue", "billing", 2)


def test_the_deepest_menu_is_four_levels_down_in_the_tech_sub_flow() -> None:
    run = call("2 1 3 2")
    assert [(s["flow"], s["node"]) for s in run["steps"] if s["action"] == "collect"] == [
        ("main", "main_menu"),
        ("tech", "tech_menu"),
        ("tech", "internet_menu"),
        ("tech", "equipment_menu"),
    ]
    assert target(run) == ("queue", "accounts", 1)


def test_a_crm_outage_does_not_stop_the_call() -> None:
    run = call("4 3 2", crm="down")
    lookups = [s for s in run["steps"] if s["action"] == "lookup"]
    assert [s["event"] for s in lookups] == ["unavailable"]
    assert target(run) == ("queue", "complaints", 6)
    assert variable(run, "CALLPOP_TOPIC") == "complaints"


# --- timeouts, invalid keys, retries ----------------------------------------------------


def test_two_silences_in_the_main_menu_go_to_the_operator() -> None:
    run = call("w w")
    assert heard(run) == [("main_menu", "", "timeout"), ("main_menu", "", "timeout")]
    assert target(run) == ("queue", "operator", 1)
    assert reason(run) == "max-timeouts"


def test_after_the_script_the_caller_stays_silent_until_an_outcome() -> None:
    run = call("1")
    assert heard(run) == [
        ("main_menu", "1", "digits"),
        ("billing_menu", "", "timeout"),
        ("billing_menu", "", "timeout"),
    ]
    assert target(run) == ("queue", "operator", 1)


def test_a_timeout_takes_the_menu_s_timeout_in_simulated_time() -> None:
    run = call("w 1 2")
    first, second = [s for s in run["steps"] if s["action"] == "collect"][:2]
    assert second["t_ms"] - first["t_ms"] >= 5000  # settings.timeout of main.yaml
    times = [s["t_ms"] for s in run["steps"]]
    assert times == sorted(times)


def test_three_invalid_keys_go_to_the_operator() -> None:
    run = call("9 9 9")
    assert heard(run) == [("main_menu", "9", "digits")] * 3
    second_try = [s for s in run["steps"] if s["action"] == "collect"][1]
    assert second_try["prompts"][0]["sound"] == "pm-invalid-option"
    assert target(run) == ("queue", "operator", 1)
    assert reason(run) == "max-invalid"


def test_an_account_number_the_caller_cannot_get_right_goes_to_the_billing_team() -> None:
    # account_entry allows 2 invalid entries, then its on_failure: the billing team.
    run = call("1 1 123# 456#")
    assert heard(run)[-2:] == [
        ("account_entry", "123#", "digits"),
        ("account_entry", "456#", "digits"),
    ]
    assert target(run) == ("queue", "billing", 1)
    assert reason(run) == "max-invalid"


def test_an_entry_that_stops_short_times_out_with_what_was_typed() -> None:
    run = call("1 1 4000")
    assert heard(run)[2] == ("account_entry", "4000", "timeout")


# --- global keys ------------------------------------------------------------------------


def test_star_goes_back_to_the_previous_menu() -> None:
    run = call("1 * 3 1")
    assert [node for node, _, _ in heard(run)] == [
        "main_menu",
        "billing_menu",
        "main_menu",
        "sales_menu",
    ]
    assert target(run) == ("queue", "sales", 3)


def test_star_in_a_sub_flow_goes_back_to_the_menu_the_caller_came_from() -> None:
    run = call("2 * 4 2")
    assert [(s["flow"], s["node"]) for s in run["steps"] if s["action"] == "collect"] == [
        ("main", "main_menu"),
        ("tech", "tech_menu"),
        ("main", "main_menu"),
        ("main", "account_menu"),
    ]
    assert target(run) == ("queue", "accounts", 3)


def test_pound_repeats_the_menu() -> None:
    run = call("# 1 2")
    collects = [s for s in run["steps"] if s["action"] == "collect"]
    assert [s["node"] for s in collects[:2]] == ["main_menu", "main_menu"]
    assert collects[1]["prompts"] == collects[0]["prompts"]
    assert target(run) == ("queue", "billing", 1)


def test_repeating_a_menu_too_often_goes_to_the_operator() -> None:
    run = call("# # # #")
    assert target(run) == ("queue", "operator", 1)
    assert reason(run) == "max-repeats"


def test_zero_reaches_the_operator_from_the_main_menu() -> None:
    run = call("0")
    assert target(run) == ("queue", "operator", 1)
    assert reason(run) == "operator-key"


def test_zero_reaches_the_operator_from_a_submenu() -> None:
    run = call("4 3 0")
    assert heard(run)[-1] == ("complaint_menu", "0", "digits")
    assert target(run) == ("queue", "operator", 1)


def test_zero_in_the_tech_sub_flow_joins_the_operator_queue() -> None:
    # tech.yaml names no operator node: its operator is settings.operator_queue.
    run = call("2 0")
    assert target(run) == ("queue", "operator", 0)
    assert reason(run) == "operator-key"


# --- hours ------------------------------------------------------------------------------


def test_outside_business_hours_a_caller_can_leave_a_message() -> None:
    run = call("1", at=SUNDAY)
    assert heard(run) == [("closed_menu", "1", "digits")]
    assert target(run) == ("voicemail", "8000@acme", 0)
    assert variable(run, "CALLPOP_OUTCOME") == "voicemail"


def test_a_silent_caller_after_hours_leaves_a_message_rather_than_wait_for_nobody() -> None:
    run = call("w w", at=SUNDAY)
    assert target(run) == ("voicemail", "8000@acme", 0)


def test_on_a_holiday_the_caller_hears_why_and_can_hang_up_informed() -> None:
    run = call("2", at=CHRISTMAS)
    played = [s["node"] for s in run["steps"] if s["action"] == "play"]
    assert "holiday_notice" in played and "outage_info" in played
    assert run["outcome"]["type"] == "hangup"
    assert target(run) is None


def test_a_caller_who_hangs_up_mid_menu() -> None:
    run = call("1 h")
    assert heard(run)[-1] == ("billing_menu", "", "hangup")
    assert run["outcome"]["type"] == "hangup"
    assert reason(run) == "caller-hangup"
    assert variable(run, "CALLPOP_LAST_NODE") == "billing_menu"


# --- the document and the other outputs -------------------------------------------------


def test_the_json_document_has_the_contract_shape() -> None:
    run = call("1 2")
    assert set(run) == {"flow", "caller", "steps", "outcome", "journey"}
    assert (run["flow"], run["caller"]) == ("main", CALLER)
    for step in run["steps"]:
        assert {"t_ms", "node", "action", "prompts", "keys", "event"} <= set(step)
        for prompt in step["prompts"]:
            assert {"sound", "text"} <= set(prompt)
    assert set(run["outcome"]) == {"type", "target", "variables"}
    assert set(run["outcome"]["target"]) == {"kind", "name", "priority"}
    assert run["journey"]["caller"]["number"] == CALLER
    assert [s["node"] for s in run["journey"]["steps"]][-1] == "billing_queue"


def test_without_json_the_run_reads_as_text() -> None:
    result = invoke(str(SAMPLE), "--caller", CALLER, "--keys", "1 2", "--at", MONDAY_MORNING)
    assert result.exit_code == 0, result.stderr
    assert "main:hours  business hours: open" in result.stdout
    assert "the caller presses 1" in result.stdout
    assert "Outcome: transfer to queue billing, priority 1" in result.stdout


def test_without_keys_the_caller_types_at_the_terminal() -> None:
    result = invoke(str(SAMPLE), "--caller", CALLER, "--at", MONDAY_MORNING, input="1\n2\n")
    assert result.exit_code == 0, result.stderr
    assert "For billing and payments, press 1." in result.stdout
    assert "Outcome: transfer to queue billing, priority 1" in result.stdout


def test_an_interactive_typo_is_explained_and_asked_again() -> None:
    result = invoke(str(SAMPLE), "--caller", CALLER, "--at", MONDAY_MORNING, input="x\n1\n2\n")
    assert result.exit_code == 0, result.stderr
    assert "'x'" in result.stdout
    assert "Outcome: transfer to queue billing" in result.stdout


# --- errors -----------------------------------------------------------------------------


def test_a_bad_key_token_is_bad_usage_with_its_column() -> None:
    result = invoke(str(SAMPLE), "--caller", CALLER, "--keys", "1 x2", "--json")
    assert result.exit_code == 2
    assert "'x2' at column 3" in result.stderr


def test_two_answers_in_one_token_are_refused() -> None:
    result = invoke(str(SAMPLE), "--caller", CALLER, "--keys", "12", "--at", MONDAY_MORNING)
    assert result.exit_code == 1
    assert "main_menu took '1'" in result.stderr


def test_a_time_without_offset_is_refused() -> None:
    result = invoke(str(SAMPLE), "--caller", CALLER, "--keys", "1", "--at", "2026-11-23T10:00")
    assert result.exit_code == 2
    assert "UTC offset" in result.stderr


def test_a_broken_flow_exits_1_with_file_line_and_column(tmp_path: Path) -> None:
    flow = tmp_path / "main.yaml"
    flow.write_text(
        "entry: hello\nnodes:\n  hello:\n    type: play\n    prompts: [hello]\n    next: bye\n    wait: 5s\n"
    )
    result = invoke(str(flow), "--caller", CALLER, "--keys", "1")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{flow}:7:5: error:")


def test_a_missing_flow_file_exits_1(tmp_path: Path) -> None:
    result = invoke(str(tmp_path / "nope.yaml"), "--caller", CALLER, "--keys", "1")
    assert result.exit_code == 1
    assert f"{tmp_path / 'nope.yaml'}:1:1: error:" in result.stderr


# --- the configured CRM -----------------------------------------------------------------


async def _seed(url: str) -> None:
    from crm_adapter.port import CustomerDraft
    from crm_adapter.sql.engine import create_engine
    from crm_adapter.sql.migrate import upgrade
    from crm_adapter.sql.store import SqlStore

    engine = create_engine(url)
    try:
        await upgrade(engine)
        store = SqlStore(engine)
        await store.create_customer(
            CustomerDraft(
                name="Dana Reyes", phones=("(555) 123-4567",), account=VALID_ACCOUNT, tier="vip"
            )
        )
    finally:
        await engine.dispose()


def test_crm_db_looks_the_caller_up_in_the_configured_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    asyncio.run(_seed(url))
    config = tmp_path / "callpop.yaml"
    # A generous budget: this test is about where the answer comes from, not its speed.
    config.write_text(f"database: {url}\ncrm: {{lookup_budget_ms: 10000}}\n")
    vip = call("", "--config", str(config), crm="db")
    assert target(vip) == ("queue", "vip", 10)
    assert variable(vip, "CALLPOP_TIER") == "vip"
    stranger = invoke(
        *(str(SAMPLE), "--caller", "+15559876543", "--keys", "w w", "--at", MONDAY_MORNING),
        *("--crm", "db", "--config", str(config), "--json"),
    )
    assert stranger.exit_code == 0, stranger.stderr
    assert json.loads(stranger.stdout)["steps"][1]["event"] == "not_found"
