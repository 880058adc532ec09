"""Branch conditions that parse, variables something stores, hours the engine can read."""

from __future__ import annotations

from pathlib import Path

from ivr.source import Position

from .lint_support import TRANSFER, column_of, line_of, lint, of_rule


def branch(when: str) -> str:
    return (
        "entry: vip\nnodes:\n  vip:\n    type: branch\n    cases:\n"
        f"      - when: {when}\n        goto: agent\n    default: agent\n  agent: {TRANSFER}\n"
    )


def test_a_condition_that_does_not_parse_points_at_the_character(tmp_path: Path) -> None:
    text = branch("customer.tier === 'vip'")
    [finding] = of_rule(lint(tmp_path, {"main": text}), "bad-condition")
    assert finding.severity == "error"
    # `===` is `==` then a stray `=`: the column is that of the third `=`.
    assert finding.position == Position(line_of(text, "when"), column_of(text, "=== ") + 2)


def test_a_quoted_condition_is_positioned_inside_the_quotes(tmp_path: Path) -> None:
    text = branch('"customer.tier == vip"')
    [finding] = of_rule(lint(tmp_path, {"main": text}), "bad-condition")
    assert finding.position == Position(line_of(text, "when"), column_of(text, 'vip"'))


def test_a_valid_condition_passes(tmp_path: Path) -> None:
    text = branch('\'customer.tier in ["vip", "gold"] and caller.number startswith "+1"\'')
    assert of_rule(lint(tmp_path, {"main": text}), "bad-condition") == []


ACCOUNT = f"""\
entry: account
nodes:
  account:
    type: input
    variable: account
    prompts: [enter-account]
    next: find
  find: {{type: lookup, by: account, variable: acount, found: agent, not_found: agent}}
  agent: {TRANSFER}
"""


def test_a_lookup_of_a_variable_nothing_stores_is_an_error(tmp_path: Path) -> None:
    [finding] = of_rule(lint(tmp_path, {"main": ACCOUNT}), "unknown-variable")
    assert finding.severity == "error"
    assert finding.position == Position(line_of(ACCOUNT, "find:"), column_of(ACCOUNT, "acount"))
    assert "input nodes store account" in finding.message


def test_a_variable_stored_by_another_flow_is_known(tmp_path: Path) -> None:
    main = """\
    entry: account
    nodes:
      account: {type: input, variable: account, prompts: [enter-account], next: to_billing}
      to_billing: {type: goto, flow: billing}
    """
    billing = f"entry: find\nnodes:\n  find: {{type: lookup, by: account, variable: account, found: agent, not_found: agent}}\n  agent: {TRANSFER}\n"
    assert of_rule(lint(tmp_path, {"main": main, "billing": billing}), "unknown-variable") == []


def test_conditions_and_prompts_read_only_stored_variables(tmp_path: Path) -> None:
    text = ACCOUNT.replace("variable: acount", "variable: account").replace(
        "found: agent, not_found: agent}",
        "found: check, not_found: agent}\n"
        "  check: {type: branch, cases: [{when: 'vars.pin == \"1234\"', goto: say}], default: agent}\n"
        "  say: {type: play, prompts: [{digits: '{vars.acct}'}], next: agent}",
    )
    findings = of_rule(lint(tmp_path, {"main": text}), "unknown-variable")
    assert sorted(f.message.split("reads ")[1].split(",")[0] for f in findings) == [
        "'vars.acct'",
        "'vars.pin'",
    ]


def hours(timezone: str, weekly: str) -> str:
    return (
        f"entry: hours\nnodes:\n  hours:\n    type: hours\n    timezone: {timezone}\n"
        f"    weekly:\n{weekly}    open: agent\n    closed: agent\n  agent: {TRANSFER}\n"
    )


def test_an_unknown_timezone_is_an_error_at_its_value(tmp_path: Path) -> None:
    text = hours("Europe/Parsi", '      mon-fri: "09:00-17:00"\n')
    [finding] = of_rule(lint(tmp_path, {"main": text}), "bad-hours")
    assert finding.position == Position(line_of(text, "timezone"), column_of(text, "Europe/Parsi"))


def test_a_bad_day_name_points_at_its_line(tmp_path: Path) -> None:
    text = hours("UTC", '      mon-fri: "09:00-17:00"\n      satu: "10:00-12:00"\n')
    [finding] = of_rule(lint(tmp_path, {"main": text}), "bad-hours")
    assert finding.position.line == line_of(text, "satu")
    assert "unknown day" in finding.message


def test_a_malformed_span_points_at_its_line(tmp_path: Path) -> None:
    text = hours("UTC", '      mon-fri: "9h-17h"\n')
    [finding] = of_rule(lint(tmp_path, {"main": text}), "bad-hours")
    assert finding.position.line == line_of(text, "9h-17h")


def test_a_day_named_twice_points_at_the_second_naming(tmp_path: Path) -> None:
    text = hours("UTC", '      mon-fri: "09:00-17:00"\n      fri: "09:00-12:00"\n')
    [finding] = of_rule(lint(tmp_path, {"main": text}), "bad-hours")
    assert finding.position.line == line_of(text, 'fri: "09:00-12:00"')
    assert "given twice" in finding.message


def test_good_hours_pass(tmp_path: Path) -> None:
    text = hours(
        "America/New_York",
        '      mon-fri: "08:00-20:00"\n      sat: ["09:00-12:00", "13:00-17:00"]\n',
    )
    assert of_rule(lint(tmp_path, {"main": text}), "bad-hours") == []
