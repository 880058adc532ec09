"""Targets that name nothing, nodes nothing leads to, and the main flow."""

from __future__ import annotations

from pathlib import Path

from ivr.flow import Flow
from ivr.lint import lint_flows
from ivr.source import Position

from .lint_support import TRANSFER, column_of, line_of, lint, of_rule

MENU = f"""\
entry: main_menu
nodes:
  main_menu:
    type: menu
    prompts: [main-menu]
    options:
      "1": billing
      "2": suport
  billing: {TRANSFER}
  support: {TRANSFER}
"""


def test_an_option_to_a_missing_node_points_at_the_target(tmp_path: Path) -> None:
    [finding] = of_rule(lint(tmp_path, {"main": MENU}), "dangling-target")
    assert finding.severity == "error"
    assert finding.position == Position(line_of(MENU, "suport"), column_of(MENU, "suport"))
    assert finding.message == (
        "option 2 of 'main_menu' goes to 'suport', which is not a node of this flow "
        "(did you mean 'support'?)"
    )


def test_every_kind_of_target_is_checked(tmp_path: Path) -> None:
    text = """\
    entry: start
    settings: {operator: desk}
    nodes:
      hello: {type: play, prompts: [hi], next: nowhere1}
      who: {type: lookup, found: nowhere2, not_found: hello, unavailable: nowhere3}
      tier: {type: branch, cases: [{when: "customer.found", goto: nowhere4}], default: nowhere5}
      hours:
        type: hours
        timezone: UTC
        weekly: {mon-fri: "09:00-17:00"}
        open: nowhere6
        closed: nowhere7
        holiday: nowhere8
      account:
        type: input
        variable: account
        prompts: [enter-account]
        next: nowhere9
        on_failure: nowhere10
      jump: {type: goto, node: nowhere11}
    """
    findings = of_rule(lint(tmp_path, {"main": text}), "dangling-target")
    expected = [f"nowhere{n}" for n in range(1, 12)] + ["start", "desk"]
    assert len(findings) == len(expected)
    for name in expected:
        assert len([f for f in findings if f"'{name}'" in f.message]) == 1, name


def test_a_goto_to_a_missing_flow_names_the_file_it_expects(tmp_path: Path) -> None:
    text = "entry: jump\nnodes:\n  jump: {type: goto, flow: biling}\n"
    [finding] = of_rule(
        lint(tmp_path, {"main": text, "billing": MENU.replace("suport", "support")}),
        "dangling-target",
    )
    assert finding.position == Position(3, column_of(text, "biling"))
    assert str(tmp_path / "flows" / "biling.yaml") in finding.message
    assert "did you mean 'billing'" in finding.message


def test_a_goto_to_a_missing_node_of_another_flow(tmp_path: Path) -> None:
    text = "entry: jump\nnodes:\n  jump: {type: goto, flow: billing, node: menu}\n"
    [finding] = of_rule(
        lint(tmp_path, {"main": text, "billing": MENU.replace("suport", "support")}),
        "dangling-target",
    )
    assert "flow 'billing', which has no such node" in finding.message


def test_a_goto_into_a_broken_flow_is_that_flows_problem_only(tmp_path: Path) -> None:
    text = "entry: jump\nnodes:\n  jump: {type: goto, flow: billing}\n"
    findings = lint(tmp_path, {"main": text, "billing": "entry: [\n"})
    assert of_rule(findings, "dangling-target") == []
    assert [f.file for f in of_rule(findings, "yaml-syntax")] == [
        str(tmp_path / "flows" / "billing.yaml")
    ]


def test_a_node_nothing_leads_to_is_a_warning_at_its_line(tmp_path: Path) -> None:
    text = (
        MENU.replace("suport", "support")
        + "  old_promo: {type: play, prompts: [promo], next: billing}\n"
    )
    [finding] = of_rule(lint(tmp_path, {"main": text}), "unreachable-node")
    assert finding.severity == "warning"
    assert finding.position == Position(line_of(text, "old_promo"), 3)


def test_the_operator_node_and_nodes_other_flows_jump_to_are_reached(tmp_path: Path) -> None:
    main = f"""\
    entry: main_menu
    settings: {{operator: desk}}
    nodes:
      main_menu: {{type: menu, prompts: [main-menu], options: {{"1": jump}}}}
      jump: {{type: goto, flow: sales, node: offers}}
      desk: {TRANSFER}
    """
    sales = f"entry: start\nnodes:\n  start: {TRANSFER}\n  offers: {TRANSFER}\n"
    assert of_rule(lint(tmp_path, {"main": main, "sales": sales}), "unreachable-node") == []


def test_a_dialplan_folder_without_main_is_an_error(tmp_path: Path) -> None:
    [finding] = of_rule(lint(tmp_path, {"sales": MENU}), "missing-main")
    assert (finding.file, finding.position) == (
        str(tmp_path / "flows" / "main.yaml"),
        Position(1, 1),
    )


def test_flows_built_in_memory_can_be_linted_too() -> None:
    flow = Flow.model_validate(
        {
            "id": "main",
            "entry": "m",
            "nodes": {"m": {"type": "menu", "prompts": ["x"], "options": {"1": "gone"}}},
        }
    )
    [finding] = of_rule(lint_flows({"main": flow}), "dangling-target")
    assert finding.file == "main.yaml" and "'gone'" in finding.message
