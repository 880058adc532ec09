"""The survey part of the flow format (docs/dialplan.md, "Post-call surveys"): a queue
transfer names a survey of its flow; a survey asks 1 to 5 questions, each with its
prompts; every mistake is one positioned finding."""

from __future__ import annotations

from pathlib import Path

from ivr.source import Position

from .lint_support import column_of, line_of, lint, of_rule

QUESTION = "{id: q%d, prompts: [{sound: q%d, text: Question %d?}]}"


def flow(*, survey: str = "after", questions: int = 2, target: str = "queue: billing") -> str:
    asked = "\n".join(f"      - {QUESTION % (n, n, n)}" for n in range(1, questions + 1))
    return f"""\
entry: menu
nodes:
  menu:
    type: menu
    prompts: [{{sound: menu, text: For billing press 1.}}]
    options:
      "1": billing
  billing:
    type: transfer
    {target}
    survey: {survey}
surveys:
  after:
    questions:
{asked}
"""


def test_a_queue_transfer_naming_its_flows_survey_has_no_findings(tmp_path: Path) -> None:
    assert lint(tmp_path, {"main": flow()}) == []


def test_an_unknown_survey_is_an_error_at_the_name(tmp_path: Path) -> None:
    text = flow(survey="aftre")
    [finding] = of_rule(lint(tmp_path, {"main": text}), "unknown-survey")
    assert finding.severity == "error"
    assert finding.position == Position(line_of(text, "aftre"), column_of(text, "aftre"))
    assert "'aftre'" in finding.message and "defined: after" in finding.message
    # the survey the transfer meant is now named by nobody
    [unused] = of_rule(lint(tmp_path, {"main": text}), "unused-survey")
    assert unused.severity == "warning"
    assert unused.position.line == line_of(text, "after:")


def test_more_than_five_questions_is_an_error_at_the_questions(tmp_path: Path) -> None:
    assert of_rule(lint(tmp_path / "five", {"main": flow(questions=5)}), "survey-questions") == []
    text = flow(questions=6)
    [finding] = of_rule(lint(tmp_path / "six", {"main": text}), "survey-questions")
    assert finding.severity == "error"
    assert finding.position.line == line_of(text, "questions:")
    assert "6 questions" in finding.message and "at most 5" in finding.message


def test_a_survey_after_an_extension_is_an_error(tmp_path: Path) -> None:
    text = flow(target='extension: "2001"')
    [finding] = of_rule(lint(tmp_path, {"main": text}), "survey-not-queue")
    assert finding.position.line == line_of(text, "survey: after")
    assert "extension '2001'" in finding.message


def test_a_question_without_prompts_is_an_error_at_the_question(tmp_path: Path) -> None:
    text = flow().replace("{id: q2, prompts: [{sound: q2, text: Question 2?}]}", "{id: q2}")
    findings = lint(tmp_path, {"main": text})
    [finding] = [f for f in findings if f.severity == "error"]
    assert finding.rule == "missing-field"
    assert finding.position.line == line_of(text, "{id: q2}")
    assert "prompts" in finding.message
    assert "\n" not in finding.format()


def test_two_questions_with_one_id_is_an_error(tmp_path: Path) -> None:
    text = flow().replace("id: q2", "id: q1")
    [finding] = [f for f in lint(tmp_path, {"main": text}) if f.severity == "error"]
    assert "two questions have the id 'q1'" in finding.message
    assert finding.position.line >= line_of(text, "questions:")


def test_a_survey_adds_no_menu_level_and_the_4x4_rules_still_hold(tmp_path: Path) -> None:
    text = flow().replace(
        '      "1": billing',
        '      "1": billing\n      "2": billing\n      "3": billing\n      "4": billing\n'
        '      "5": billing',
    )
    findings = lint(tmp_path, {"main": text})
    [options] = of_rule(findings, "menu-options")
    assert options.position.line == line_of(text, "  menu:")
    assert of_rule(findings, "menu-depth") == []
    assert {f.rule for f in findings} == {"menu-options"}
