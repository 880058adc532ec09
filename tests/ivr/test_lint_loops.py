"""Loops a caller cannot leave, and menus with no way to a person."""

from __future__ import annotations

from pathlib import Path

from ivr.source import Position

from .lint_support import TRANSFER, line_of, lint, of_rule


def test_announcements_that_lead_to_each_other_trap_the_caller(tmp_path: Path) -> None:
    text = """\
    entry: hold
    nodes:
      hold: {type: play, prompts: [please-hold], next: music}
      music: {type: play, prompts: [hold-music], next: hold}
    """
    [finding] = of_rule(lint(tmp_path, {"main": text}), "no-exit-loop")
    assert finding.severity == "error"
    assert finding.position == Position(line_of(text, "hold:"), 3)
    assert (
        "nodes 'hold', 'music' form a loop with nothing for the caller to press and no way out"
        in finding.message
    )


def test_a_loop_whose_branch_decides_the_same_way_every_round_is_a_trap(tmp_path: Path) -> None:
    text = f"""\
    entry: hold
    nodes:
      hold: {{type: play, prompts: [please-hold], next: vip}}
      vip:
        type: branch
        cases: [{{when: 'customer.tier == "vip"', goto: agent}}]
        default: hold
      agent: {TRANSFER}
    """
    [finding] = of_rule(lint(tmp_path, {"main": text}), "no-exit-loop")
    assert "nothing in it changes between rounds" in finding.message


def test_a_retry_loop_around_a_lookup_is_not_a_trap(tmp_path: Path) -> None:
    text = f"""\
    entry: who
    nodes:
      who: {{type: lookup, found: agent, not_found: agent, unavailable: wait}}
      wait: {{type: play, prompts: [one-moment], next: who}}
      agent: {TRANSFER}
    """
    assert of_rule(lint(tmp_path, {"main": text}), "no-exit-loop") == []


def test_a_way_back_to_the_main_menu_is_not_a_trap(tmp_path: Path) -> None:
    text = f"""\
    entry: main_menu
    nodes:
      main_menu: {{type: menu, prompts: [main], options: {{"1": billing_menu, "2": agent}}}}
      billing_menu: {{type: menu, prompts: [billing], options: {{"1": main_menu, "2": agent}}}}
      agent: {TRANSFER}
    """
    assert of_rule(lint(tmp_path, {"main": text}), "no-exit-loop") == []


CLOSED_MENUS = """\
entry: first
settings:
  keys: {operator: null, back: null}
nodes:
  first: {type: menu, prompts: [first], options: {"1": second}, on_failure: second}
  second: {type: menu, prompts: [second], options: {"1": first}, on_failure: first}
"""


def test_menus_with_no_option_failure_or_operator_key_leading_out_trap_the_caller(
    tmp_path: Path,
) -> None:
    [finding] = of_rule(lint(tmp_path, {"main": CLOSED_MENUS}), "no-exit-loop")
    assert finding.position == Position(line_of(CLOSED_MENUS, "first:"), 3)
    assert "no way out" in finding.message


def test_the_operator_key_is_a_way_out_of_any_menu(tmp_path: Path) -> None:
    text = CLOSED_MENUS.replace("operator: null", 'operator: "0"')
    assert of_rule(lint(tmp_path, {"main": text}), "no-exit-loop") == []


def test_back_leads_out_to_the_menu_the_caller_came_from(tmp_path: Path) -> None:
    text = CLOSED_MENUS.replace("back: null", 'back: "*"').replace("entry: first", "entry: lobby")
    text += f'  lobby: {{type: menu, prompts: [lobby], options: {{"1": first, "2": agent}}}}\n  agent: {TRANSFER}\n'
    assert of_rule(lint(tmp_path, {"main": text}), "no-exit-loop") == []


NO_PERSON = """\
entry: info
settings:
  keys: {operator: null}
nodes:
  info: {type: menu, prompts: [info], options: {"1": opening_hours, "2": bye}}
  opening_hours: {type: play, prompts: [hours], next: bye}
  bye: {type: hangup, prompts: [goodbye]}
"""


def test_a_menu_with_no_way_to_a_person_is_a_warning(tmp_path: Path) -> None:
    [finding] = of_rule(lint(tmp_path, {"main": NO_PERSON}), "no-agent-path")
    assert finding.severity == "warning"
    assert finding.position == Position(line_of(NO_PERSON, "info:"), 3)
    assert "operator key is off" in finding.message


def test_the_operator_key_is_a_way_to_a_person(tmp_path: Path) -> None:
    text = NO_PERSON.replace("operator: null", 'operator: "0"')
    assert of_rule(lint(tmp_path, {"main": text}), "no-agent-path") == []


def test_an_option_that_transfers_is_a_way_to_a_person(tmp_path: Path) -> None:
    text = NO_PERSON.replace('"2": bye', '"2": agent') + f"  agent: {TRANSFER}\n"
    assert of_rule(lint(tmp_path, {"main": text}), "no-agent-path") == []


def test_failing_on_purpose_is_not_a_way_to_a_person(tmp_path: Path) -> None:
    # Without on_failure a failing caller reaches the operator, but nobody should have
    # to get the menu wrong three times to speak to someone.
    text = NO_PERSON.replace("type: menu,", "type: menu, max_invalid: 1,")
    assert len(of_rule(lint(tmp_path, {"main": text}), "no-agent-path")) == 1
