"""Break reasons come from the dialplan's pause_reasons.yaml, checked when loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from screenpop.app import load_pause_reasons
from screenpop.keys import DEFAULT_PAUSE_REASONS

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplan"


def test_the_sample_dialplan_names_its_break_reasons() -> None:
    assert load_pause_reasons(DIALPLAN / "pause_reasons.yaml") == (
        "Break",
        "Lunch",
        "Training",
        "Meeting",
    )


def test_without_the_file_the_default_reasons_are_offered(tmp_path: Path) -> None:
    assert load_pause_reasons(tmp_path / "pause_reasons.yaml") == DEFAULT_PAUSE_REASONS


@pytest.mark.parametrize(
    "text",
    ["pause_reasons: []\n", "pause_reasons: [Lunch, Lunch]\n", "pause_reasons: [' x']\n", "x: 1\n"],
)
def test_a_bad_reasons_file_is_an_error_naming_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "pause_reasons.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=r"pause_reasons.yaml:1:1: error"):
        load_pause_reasons(path)
