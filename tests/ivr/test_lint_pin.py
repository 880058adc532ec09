"""Lint of PIN checks: a pin node must come after a lookup that can find the caller,
its targets must exist, and no flow may compare a secret itself."""

from __future__ import annotations

from pathlib import Path

from .lint_support import TRANSFER, line_of, lint, of_rule

CHECKED = f"""\
entry: ident
nodes:
  ident:
    type: lookup
    by: caller
    found: check_pin
    not_found: agent
  check_pin:
    type: pin
    prompts: [enter-pin]
    verified: agent
    failed: agent
  agent: {TRANSFER}
"""

UNIDENTIFIED = f"""\
entry: check_pin
nodes:
  check_pin:
    type: pin
    prompts: [enter-pin]
    verified: agent
    failed: agent
  agent: {TRANSFER}
"""

DANGLING = f"""\
entry: ident
nodes:
  ident:
    type: lookup
    by: caller
    found: check_pin
    not_found: agent
  check_pin:
    type: pin
    prompts: [enter-pin]
    verified: agnet
    failed: agent
  agent: {TRANSFER}
"""

COMPARED = f"""\
entry: ask
nodes:
  ask:
    type: input
    variable: pin
    sensitive: true
    prompts: [enter-pin]
    next: compare
  compare:
    type: branch
    cases:
      - when: vars.pin == "4821"
        goto: agent
    default: agent
  agent: {TRANSFER}
"""


def test_a_pin_node_after_a_lookup_is_clean(tmp_path: Path) -> None:
    findings = lint(tmp_path, {"main": CHECKED})
    assert [f for f in findings if f.severity == "error"] == []


def test_a_pin_node_no_lookup_leads_to_is_an_error_at_the_node(tmp_path: Path) -> None:
    (found,) = of_rule(lint(tmp_path, {"main": UNIDENTIFIED}), "pin-unidentified")
    assert found.severity == "error"
    assert found.position.line == line_of(UNIDENTIFIED, "check_pin:")
    assert "nobody's PIN to check" in found.message


def test_a_pin_node_reached_only_through_a_lookups_not_found_is_an_error(tmp_path: Path) -> None:
    only_not_found = CHECKED.replace(
        "found: check_pin\n    not_found: agent", "found: agent\n    not_found: check_pin"
    )
    assert of_rule(lint(tmp_path, {"main": only_not_found}), "pin-unidentified")


def test_a_pin_nodes_dangling_target_is_named(tmp_path: Path) -> None:
    (found,) = of_rule(lint(tmp_path, {"main": DANGLING}), "dangling-target")
    assert found.position.line == line_of(DANGLING, "verified: agnet")
    assert "did you mean 'agent'" in found.message


def test_a_condition_comparing_a_sensitive_entry_is_an_error(tmp_path: Path) -> None:
    (found,) = of_rule(lint(tmp_path, {"main": COMPARED}), "secret-in-condition")
    assert found.severity == "error"
    assert found.position.line == line_of(COMPARED, 'when: vars.pin == "4821"')
    assert "pin node" in found.message
    assert "4821" not in found.message


def test_a_pin_written_in_the_pin_node_does_not_load(tmp_path: Path) -> None:
    with_pin = CHECKED.replace("prompts: [enter-pin]", "prompts: [enter-pin]\n    pin: '4821'")
    findings = lint(tmp_path, {"main": with_pin})
    assert any(
        f.severity == "error" and f.position.line == line_of(with_pin, "pin: '4821'")
        for f in findings
    ), findings
