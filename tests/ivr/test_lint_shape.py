"""The 4x4 rule: at most 4 menu levels from the entry, at most 4 choices per menu."""

from __future__ import annotations

from pathlib import Path

from ivr.lint import lint_paths
from ivr.source import Position

from .lint_support import TRANSFER, line_of, lint, of_rule, write_dialplan


def chain(levels: int, *, first: str = "level1", end: str = "agent") -> str:
    """Menus level1 > level2 > ... each with one option to the next, the last to `end`."""
    text = ""
    for n in range(1, levels + 1):
        target = f"level{n + 1}" if n < levels else end
        name = first if n == 1 else f"level{n}"
        text += f'  {name}:\n    type: menu\n    prompts: [m{n}]\n    options: {{"1": {target}}}\n'
    return text


FIVE_LEVELS = "entry: level1\nnodes:\n" + chain(5) + f"  agent: {TRANSFER}\n"


def test_a_menu_five_levels_deep_is_reported_at_its_line(tmp_path: Path) -> None:
    [finding] = of_rule(lint(tmp_path, {"main": FIVE_LEVELS}), "menu-depth")
    assert finding.severity == "error"
    assert finding.position == Position(line_of(FIVE_LEVELS, "level5:"), 3)
    assert (
        "menu 'level5' is level 5 (level1 > level2 > level3 > level4 > level5)" in finding.message
    )
    assert (
        "at most 4" in finding.message and "raise limits.max_depth with a reason" in finding.message
    )


def test_four_levels_are_fine(tmp_path: Path) -> None:
    text = "entry: level1\nnodes:\n" + chain(4) + f"  agent: {TRANSFER}\n"
    assert of_rule(lint(tmp_path, {"main": text}), "menu-depth") == []


def test_announcements_lookups_and_branches_are_not_levels(tmp_path: Path) -> None:
    text = (
        "entry: hello\nnodes:\n"
        "  hello: {type: play, prompts: [hello], next: who}\n"
        "  who: {type: lookup, found: vip, not_found: level1}\n"
        "  vip: {type: branch, cases: [{when: 'customer.tier == \"vip\"', goto: agent}], default: level1}\n"
        + chain(4)
        + f"  agent: {TRANSFER}\n"
    )
    assert of_rule(lint(tmp_path, {"main": text}), "menu-depth") == []


def test_a_way_back_to_the_main_menu_is_not_a_level_deeper(tmp_path: Path) -> None:
    text = "entry: level1\nnodes:\n" + chain(4, end="level1") + f"  agent: {TRANSFER}\n"
    text = text.replace('options: {"1": level1}', 'options: {"1": level1, "2": agent}')
    assert of_rule(lint(tmp_path, {"main": text}), "menu-depth") == []


def test_the_longest_way_to_a_menu_counts(tmp_path: Path) -> None:
    # level3 is also reachable directly from level1, but a caller can get there through
    # four menus: what callers meet on the long way is what they put up with.
    text = "entry: level1\nnodes:\n" + chain(5) + f"  agent: {TRANSFER}\n"
    text = text.replace('options: {"1": level2}', 'options: {"1": level2, "2": level3}')
    [finding] = of_rule(lint(tmp_path, {"main": text}), "menu-depth")
    assert "'level5' is level 5" in finding.message


def test_depth_follows_goto_into_another_flow(tmp_path: Path) -> None:
    main = (
        "entry: level1\nnodes:\n"
        + chain(2, end="to_support")
        + "  to_support: {type: goto, flow: support}\n"
    )
    support = "entry: level1\nnodes:\n" + chain(3) + f"  agent: {TRANSFER}\n"
    [finding] = of_rule(lint(tmp_path, {"main": main, "support": support}), "menu-depth")
    assert finding.file == str(tmp_path / "flows" / "support.yaml")
    assert finding.position.line == line_of(support, "level3:")
    assert "(main:level1 > main:level2 > level1 > level2 > level3)" in finding.message


def test_a_raised_depth_limit_with_a_reason_allows_a_fifth_level(tmp_path: Path) -> None:
    text = FIVE_LEVELS + (
        "limits:\n  max_depth:\n    value: 5\n"
        "    reason: The regulator requires the legal notice menu before any tariff menu.\n"
    )
    assert of_rule(lint(tmp_path, {"main": text}), "menu-depth") == []


def test_a_sixth_level_still_fails_a_limit_raised_to_five(tmp_path: Path) -> None:
    text = "entry: level1\nnodes:\n" + chain(6) + f"  agent: {TRANSFER}\n"
    text += "limits:\n  max_depth: {value: 5, reason: Legal notice menu required before tariffs.}\n"
    [finding] = of_rule(lint(tmp_path, {"main": text}), "menu-depth")
    assert "'level6' is level 6" in finding.message and "limits.max_depth is 5" in finding.message


FIVE_OPTIONS = f"""\
entry: main_menu
nodes:
  main_menu:
    type: menu
    prompts: [main-menu]
    options:
      "1": a
      "2": a
      "3": a
      "4": a
      "5": a
  a: {TRANSFER}
"""


def test_a_menu_of_five_choices_is_reported_at_its_line(tmp_path: Path) -> None:
    [finding] = of_rule(lint(tmp_path, {"main": FIVE_OPTIONS}), "menu-options")
    assert finding.severity == "error"
    assert finding.position == Position(line_of(FIVE_OPTIONS, "main_menu:"), 3)
    assert "offers 5 choices (1, 2, 3, 4, 5)" in finding.message
    assert "raise this menu's limits.max_options with a reason" in finding.message


def test_global_keys_are_not_counted_as_choices(tmp_path: Path) -> None:
    text = FIVE_OPTIONS.replace('"5": a', '"#": a')
    assert of_rule(lint(tmp_path, {"main": text}), "menu-options") == []


def test_a_raised_options_limit_with_a_reason_allows_five(tmp_path: Path) -> None:
    text = (
        FIVE_OPTIONS
        + "limits:\n  max_options: {value: 5, reason: Five regional offices, one key each.}\n"
    )
    assert of_rule(lint(tmp_path, {"main": text}), "menu-options") == []


def test_a_sub_flow_linted_alone_counts_its_depth_from_main(tmp_path: Path) -> None:
    main = (
        "entry: level1\nnodes:\n"
        + chain(2, end="to_support")
        + "  to_support: {type: goto, flow: support}\n"
    )
    support = "entry: level1\nnodes:\n" + chain(3) + f"  agent: {TRANSFER}\n"
    write_dialplan(tmp_path, {"main": main, "support": support})
    report = lint_paths([tmp_path / "flows" / "support.yaml"])
    assert [(f.rule, f.position.line) for f in report.findings] == [
        ("menu-depth", line_of(support, "level3:"))
    ]
