"""The sample hotline in dialplan/ lints clean, and a dialplan lint rejects never runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.lint import check_dialplan, lint_paths
from ivr.loader import DialplanError

from .lint_support import TRANSFER, write_dialplan

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialplan"


def test_the_sample_dialplan_has_no_findings_at_all() -> None:
    report = lint_paths([SAMPLE])
    assert [f.format() for f in report.findings] == []
    assert {Path(f).name for f in report.files} >= {
        "main.yaml",
        "queues.yaml",
        "scripts.yaml",
        "dispositions.yaml",
    }


def test_each_sample_flow_alone_has_no_findings() -> None:
    for flow in sorted((SAMPLE / "flows").glob("*.yaml")):
        assert lint_paths([flow]).findings == (), flow


def test_the_sample_loads_for_running_calls() -> None:
    dialplan = check_dialplan(SAMPLE)
    assert "main" in dialplan.flows


def test_a_dialplan_with_lint_errors_is_refused_for_running_calls(tmp_path: Path) -> None:
    text = f'entry: main_menu\nnodes:\n  main_menu: {{type: menu, prompts: [m], options: {{"1": gone}}}}\n  agent: {TRANSFER}\n'
    write_dialplan(tmp_path, {"main": text})
    with pytest.raises(DialplanError) as caught:
        check_dialplan(tmp_path)
    assert [f.rule for f in caught.value.findings] == ["dangling-target"]


def test_warnings_do_not_stop_a_dialplan_from_running(tmp_path: Path) -> None:
    text = f'entry: main_menu\nnodes:\n  main_menu: {{type: menu, prompts: [m], options: {{"1": agent}}}}\n  agent: {TRANSFER}\n  spare: {TRANSFER}\n'
    write_dialplan(tmp_path, {"main": text})
    assert set(check_dialplan(tmp_path).flows) == {"main"}
