"""Per-menu limits and options offered on a condition (`when:`): linted, counted for
the 4x4 rule, and run by the engine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ivr.actions import Collect, Sound, Transfer
from ivr.events import Caller, CallStarted, DigitsEntered, LookupFinished, LookupStatus
from ivr.flow import Flow
from ivr.graph.model import build
from ivr.session import Session

from .lint_support import TRANSFER, lint, of_rule

# Four choices for everyone, a fifth ("press 9 for the agent handling your complaint")
# only for callers with an open complaint.
MENU = """\
entry: who
nodes:
  who: {type: lookup, found: main_menu, not_found: main_menu}
  main_menu:
    type: menu
    prompts: [{sound: acme-main-menu, text: For billing press 1.}]
    LIMITS
    options:
      "1": agent
      "2": agent
      "3": agent
      "4": agent
      "9":
        goto: complaint
        when: customer.open_cases > 0
        prompts: [{sound: acme-press-9-complaint, text: "To reach the agent handling your complaint, press 9."}]
  other_menu:
    type: menu
    prompts: [m]
    options: {"1": agent, "2": agent, "3": agent, "4": agent, "5": agent}
  agent: TRANSFER
  complaint: {type: transfer, queue: complaints}
""".replace("TRANSFER", TRANSFER)

REASON = "callers with an open complaint hear a fifth option"
RAISED = f"limits: {{max_options: {{value: 5, reason: {REASON}}}}}"


def _flow(limits: str = RAISED) -> str:
    return MENU.replace("LIMITS", limits)


def test_a_conditional_option_counts_and_a_menus_own_limit_allows_it(tmp_path: Path) -> None:
    text = _flow().replace('"5": agent', '"1": agent')  # other_menu back to 4 choices
    text = text.replace(
        'options: {"1": agent, "2": agent, "3": agent, "4": agent, "1": agent}',
        'options: {"1": agent, "2": agent, "3": agent, "4": agent}',
    )
    assert of_rule(lint(tmp_path, {"main": text}), "menu-options") == []


def test_a_menus_own_limit_leaves_the_other_menus_at_four(tmp_path: Path) -> None:
    [finding] = of_rule(lint(tmp_path, {"main": _flow()}), "menu-options")
    assert "menu 'other_menu' offers 5 choices" in finding.message


def test_without_a_limit_the_conditional_fifth_option_is_reported(tmp_path: Path) -> None:
    findings = of_rule(lint(tmp_path, {"main": _flow(limits="")}), "menu-options")
    main = next(f for f in findings if "'main_menu'" in f.message)
    assert main.message.startswith(
        "menu 'main_menu' offers a caller up to 5 choices (1, 2, 3, 4, 9, 1 of them on a condition)"
    )


def test_a_raised_limit_is_stated_as_the_real_limit(tmp_path: Path) -> None:
    text = _flow().replace('"4": agent\n      "9"', '"4": agent\n      "5": agent\n      "9"')
    finding = next(
        f
        for f in of_rule(lint(tmp_path, {"main": text}), "menu-options")
        if "'main_menu'" in f.message
    )
    assert "this menu's limits.max_options is 5 (raised from 4:" in finding.message
    assert "in mind" not in finding.message


def test_options_on_mutually_exclusive_conditions_count_once(tmp_path: Path) -> None:
    text = (
        _flow(limits="")
        .replace("when: customer.open_cases > 0", 'when: customer.tier == "vip"')
        .replace(
            '"4": agent\n', '"4":\n        goto: agent\n        when: customer.tier == "gold"\n', 1
        )
    )
    findings = of_rule(lint(tmp_path, {"main": text}), "menu-options")
    assert [f for f in findings if "'main_menu'" in f.message] == []


def test_a_condition_that_does_not_parse_is_reported_where_it_is(tmp_path: Path) -> None:
    text = _flow().replace("customer.open_cases > 0", "customer.open_cases >")
    [finding] = of_rule(lint(tmp_path, {"main": text}), "bad-condition")
    assert finding.message.startswith("option 9 of menu 'main_menu': expected a value or a name")


def test_a_condition_reading_an_unknown_name_is_reported(tmp_path: Path) -> None:
    text = _flow().replace("customer.open_cases > 0", "vars.complaint == 1")
    [finding] = of_rule(lint(tmp_path, {"main": text}), "unknown-variable")
    assert finding.message.startswith("option 9 of menu 'main_menu' reads 'vars.complaint'")
    text = _flow().replace("customer.open_cases > 0", "caller.numbr == 1")
    assert of_rule(lint(tmp_path, {"main": text}), "bad-condition")


# --- the engine -----------------------------------------------------------------------


def _session(open_cases: int) -> tuple[Session, Collect]:
    import ruamel.yaml

    data = ruamel.yaml.YAML(typ="safe").load(_flow())
    session = Session({"main": Flow.model_validate(data)})
    session.handle(CallStarted("c1", Caller("+15551230000", ""), now=_now(), at_ms=0))
    actions = session.handle(
        LookupFinished(LookupStatus.FOUND, 10, {"id": "C1", "open_cases": open_cases}, 1)
    )
    collect = actions[-1]
    assert isinstance(collect, Collect)
    return session, collect


def _now() -> datetime:

    return datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def test_a_caller_with_an_open_complaint_hears_the_option_and_can_take_it() -> None:
    session, collect = _session(open_cases=1)
    assert [p.name for p in collect.prompts if isinstance(p, Sound)] == [
        "acme-main-menu", "acme-press-9-complaint"
    ]  # fmt: skip
    [*_, transfer] = session.handle(DigitsEntered("9", 2000))
    assert isinstance(transfer, Transfer) and transfer.target == "complaints"


def test_a_caller_without_a_complaint_hears_four_options_and_9_is_invalid() -> None:
    session, collect = _session(open_cases=0)
    assert [p.name for p in collect.prompts if isinstance(p, Sound)] == ["acme-main-menu"]
    session.handle(DigitsEntered("9", 2000))
    assert session.journey.steps[-1].invalid == 1


def test_the_diagram_says_to_whom_an_option_is_offered() -> None:
    import ruamel.yaml

    flow = Flow.model_validate(ruamel.yaml.YAML(typ="safe").load(_flow()))
    edges = [e for e in build(flow).edges if e.key == "9"]
    assert edges[0].text == "9 · if customer.open_cases > 0"
    assert any(REASON in line for line in build(flow).legend)
