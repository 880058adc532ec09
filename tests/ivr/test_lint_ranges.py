"""Timeouts and retries within what callers put up with."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.source import Position

from .lint_support import TRANSFER, column_of, line_of, lint, of_rule


def menu(fields: str) -> str:
    return (
        "entry: main_menu\nnodes:\n  main_menu:\n    type: menu\n    prompts: [main-menu]\n"
        f'{fields}    options: {{"1": agent}}\n  agent: {TRANSFER}\n'
    )


@pytest.mark.parametrize("timeout", ["1s", "1500ms", "20s", "1m"])
def test_a_menu_timeout_outside_2_to_15_seconds_is_a_warning(tmp_path: Path, timeout: str) -> None:
    text = menu(f"    timeout: {timeout}\n")
    [finding] = of_rule(lint(tmp_path, {"main": text}), "timeout-range")
    assert finding.severity == "warning"
    assert finding.position == Position(line_of(text, "timeout:"), column_of(text, timeout))


@pytest.mark.parametrize("timeout", ["2s", "5s", "15s"])
def test_a_menu_timeout_within_2_to_15_seconds_is_fine(tmp_path: Path, timeout: str) -> None:
    assert (
        of_rule(lint(tmp_path, {"main": menu(f"    timeout: {timeout}\n")}), "timeout-range") == []
    )


def test_a_settings_interdigit_timeout_over_10_seconds_is_a_warning(tmp_path: Path) -> None:
    text = menu("").replace("nodes:", "settings: {interdigit_timeout: 12s}\nnodes:")
    [finding] = of_rule(lint(tmp_path, {"main": text}), "timeout-range")
    assert "settings.interdigit_timeout" in finding.message


def test_more_than_five_attempts_is_a_warning(tmp_path: Path) -> None:
    text = menu("    max_invalid: 7\n")
    [finding] = of_rule(lint(tmp_path, {"main": text}), "retries-range")
    assert finding.severity == "warning"
    assert finding.position == Position(line_of(text, "max_invalid"), column_of(text, "7"))


def test_five_attempts_are_fine(tmp_path: Path) -> None:
    assert of_rule(lint(tmp_path, {"main": menu("    max_timeouts: 5\n")}), "retries-range") == []
