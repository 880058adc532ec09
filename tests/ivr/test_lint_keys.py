"""Phone keys: one real key per option, global keys kept global, direct dial apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flow import DirectDial
from ivr.lint.keys import first_keys
from ivr.source import Position

from .lint_support import TRANSFER, column_of, line_of, lint, of_rule


def menu(options: str, extra: str = "", settings: str = "") -> str:
    return (
        f"entry: main_menu\n{settings}nodes:\n"
        f"  main_menu:\n    type: menu\n    prompts: [main-menu]\n{extra}"
        f"    options: {{{options}}}\n  agent: {TRANSFER}\n"
    )


@pytest.mark.parametrize("key", ["10", "a", "+"])
def test_an_option_key_that_is_not_one_phone_key_is_an_error(tmp_path: Path, key: str) -> None:
    text = menu(f'"1": agent, "{key}": agent')
    [finding] = of_rule(lint(tmp_path, {"main": text}), "option-key")
    assert finding.severity == "error"
    assert finding.position == Position(line_of(text, "options"), column_of(text, f'"{key}"'))


def test_a_global_key_that_is_not_a_phone_key_is_an_error(tmp_path: Path) -> None:
    text = menu('"1": agent', settings='settings: {keys: {operator: "00"}}\n')
    [finding] = of_rule(lint(tmp_path, {"main": text}), "option-key")
    assert "settings.keys.operator '00'" in finding.message


def test_an_option_on_the_operator_key_shadows_it(tmp_path: Path) -> None:
    text = menu('"1": agent, "0": agent')
    [finding] = of_rule(lint(tmp_path, {"main": text}), "shadowed-global-key")
    assert finding.severity == "warning"
    assert finding.position == Position(line_of(text, "options"), column_of(text, '"0"'))
    assert "global operator key" in finding.message


def test_an_option_on_a_global_key_that_is_turned_off_is_fine(tmp_path: Path) -> None:
    text = menu('"1": agent, "0": agent', settings="settings: {keys: {operator: null}}\n")
    assert of_rule(lint(tmp_path, {"main": text}), "shadowed-global-key") == []


def test_two_global_keys_on_the_same_key_clash(tmp_path: Path) -> None:
    text = menu('"1": agent', settings='settings: {keys: {back: "#", repeat: "#"}}\n')
    [finding] = of_rule(lint(tmp_path, {"main": text}), "shadowed-global-key")
    assert "settings.keys.repeat and settings.keys.back are both '#'" in finding.message


DIAL = "    direct_dial: {pattern: '[1-3][0-9]{2}', min_digits: 3, max_digits: 3}\n"


def test_an_option_an_extension_can_start_with_collides(tmp_path: Path) -> None:
    text = menu('"1": agent, "4": agent', extra=DIAL)
    [finding] = of_rule(lint(tmp_path, {"main": text}), "direct-dial-collision")
    assert finding.severity == "error"
    assert finding.position == Position(line_of(text, "options"), column_of(text, '"1"'))


def test_options_outside_the_extension_range_do_not_collide(tmp_path: Path) -> None:
    text = menu('"4": agent, "5": agent', extra=DIAL)
    assert of_rule(lint(tmp_path, {"main": text}), "direct-dial-collision") == []


def test_extensions_starting_with_a_global_key_collide_at_the_pattern(tmp_path: Path) -> None:
    text = menu(
        '"4": agent', extra="    direct_dial: {pattern: '0[0-9]+', min_digits: 3, max_digits: 4}\n"
    )
    [finding] = of_rule(lint(tmp_path, {"main": text}), "direct-dial-collision")
    assert finding.position == Position(line_of(text, "direct_dial"), column_of(text, "'0[0-9]+'"))
    assert "the operator key" in finding.message


@pytest.mark.parametrize(
    ("pattern", "keys"),
    [
        (r"[2-7]\d{3}", "234567"),
        (r"1\d\d|(?:0|9)?8\d", "0189"),
        (r"\*?[^0-4]\d", "*#56789"),
        (r"(?:81|82)\d{2}", "8"),
        (r"\d{4}", "0123456789"),
    ],
)
def test_the_first_keys_of_a_direct_dial_pattern(pattern: str, keys: str) -> None:
    assert first_keys(DirectDial(pattern=pattern, min_digits=2, max_digits=6)) == frozenset(keys)
