"""`callpop simulate --survey-keys`: after a transfer with a survey, the agent hangs up
and the caller walks the survey, with no PBX; the sample's billing queue has one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from callpop.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialplan" / "flows" / "main.yaml"
MONDAY_MORNING = "2026-11-23T10:00:00-05:00"


def invoke(keys: str, survey_keys: str, *options: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            "simulate",
            str(SAMPLE),
            "--caller",
            "+15551234567",
            "--at",
            MONDAY_MORNING,
            "--keys",
            keys,
            "--survey-keys",
            survey_keys,
            *options,
        ],
    )


def survey_of(keys: str, survey_keys: str) -> dict[str, Any]:
    result = invoke(keys, survey_keys, "--json", "--agent", "PJSIP/101")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["outcome"]["variables"]["CALLPOP_SURVEY"] == "main/after_call"
    survey: dict[str, Any] = document["survey"]
    return survey


def test_the_billing_caller_answers_all_three_questions() -> None:
    survey = survey_of("1 2", "5 4 3")
    assert (survey["survey"], survey["queue"], survey["agent"]) == (
        "main/after_call",
        "billing",
        "PJSIP/101",
    )
    assert survey["answers"] == [
        {"question": "resolved", "position": 1, "score": 5},
        {"question": "courtesy", "position": 2, "score": 4},
        {"question": "recommend", "position": 3, "score": 3},
    ]
    assert survey["end"] == "completed"
    assert survey["steps"][-1]["action"] == "hangup"


def test_a_bad_key_asks_again_and_silence_runs_out() -> None:
    survey = survey_of("1 2", "9 5 w w")
    asked = [s for s in survey["steps"] if s["action"] == "collect"]
    assert [p["sound"] for p in asked[1]["prompts"]][:1] == ["acme-survey-keys"]
    assert survey["answers"] == [{"question": "resolved", "position": 1, "score": 5}]
    assert survey["end"] == "max-timeouts"


def test_a_hang_up_midway_keeps_the_answers_given() -> None:
    survey = survey_of("1 2", "2 h")
    assert [a["score"] for a in survey["answers"]] == [2]
    assert survey["end"] == "hangup"


def test_the_text_run_tells_the_survey_after_the_call() -> None:
    result = invoke("1 2", "5 4 3")
    assert result.exit_code == 0, result.output
    assert "The agent PJSIP/101 hangs up; the caller stays for survey main/after_call" in (
        result.stdout
    )
    assert "Survey: completed; answers stored: resolved 5, courtesy 4, recommend 3" in result.stdout


def test_survey_keys_after_a_call_with_no_survey_is_one_clear_error() -> None:
    result = invoke("3 1", "5")  # sales: no survey
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "--survey-keys: the call ended in queue sales, with no survey" in line
