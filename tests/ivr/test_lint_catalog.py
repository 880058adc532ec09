"""Flows and the other dialplan files agree: queues, topics, dispositions, sounds."""

from __future__ import annotations

from pathlib import Path

from ivr.source import Position

from .lint_support import column_of, line_of, lint, of_rule

FLOW = """\
entry: main_menu
nodes:
  main_menu:
    type: menu
    prompts: [{sound: main-menu, text: "For billing, press 1."}]
    options: {"1": {goto: billing, topic: billing}}
  billing: {type: transfer, queue: biling, topic: billing}
"""

QUEUES = """\
operator: operator
queues:
  operator: {strategy: ringall}
  billing: {strategy: rrmemory}
"""


def test_a_transfer_to_a_queue_queues_yaml_lacks_is_an_error(tmp_path: Path) -> None:
    [finding] = of_rule(lint(tmp_path, {"main": FLOW}, queues=QUEUES), "unknown-queue")
    assert finding.severity == "error"
    assert finding.position == Position(line_of(FLOW, "biling"), column_of(FLOW, "biling"))
    assert "did you mean 'billing'" in finding.message


def test_without_queues_yaml_queues_are_not_checked(tmp_path: Path) -> None:
    assert of_rule(lint(tmp_path, {"main": FLOW}), "unknown-queue") == []


def test_the_operator_queue_a_flow_falls_back_to_must_exist(tmp_path: Path) -> None:
    queues = QUEUES.replace("operator: operator\n", "operator: billing\n").replace(
        "  operator: {strategy: ringall}\n", ""
    )
    findings = of_rule(
        lint(tmp_path, {"main": FLOW.replace("biling", "billing")}, queues=queues), "unknown-queue"
    )
    assert [f.message.split(" ")[0] for f in findings] == ["settings.operator_queue"]
    assert "(by default)" in findings[0].message


def test_the_operator_queue_of_queues_yaml_must_be_one_of_its_queues(tmp_path: Path) -> None:
    queues = QUEUES.replace("operator: operator", "operator: front_desk")
    findings = of_rule(
        lint(tmp_path, {"main": FLOW.replace("biling", "billing")}, queues=queues), "unknown-queue"
    )
    assert [(f.file, f.position) for f in findings] == [
        (str(tmp_path / "queues.yaml"), Position(1, 11))
    ]


SCRIPTS = """\
scripts:
  billing:
    title: Billing question
    steps:
      - check: Verify the caller's identity.
      - say: Explain the charge.
        disposition: resolvd
"""

DISPOSITIONS = """\
dispositions:
  resolved: {label: Resolved}
"""


def test_a_topic_without_a_script_is_a_warning(tmp_path: Path) -> None:
    flow = FLOW.replace("topic: billing}}", "topic: bills}}")
    [finding] = of_rule(lint(tmp_path, {"main": flow}, scripts=SCRIPTS), "unknown-topic")
    assert finding.severity == "warning"
    assert finding.position == Position(line_of(flow, "bills"), column_of(flow, "bills"))


def test_a_script_step_suggesting_an_unknown_disposition_is_an_error(tmp_path: Path) -> None:
    findings = lint(tmp_path, {"main": FLOW}, scripts=SCRIPTS, dispositions=DISPOSITIONS)
    [finding] = of_rule(findings, "unknown-disposition")
    assert finding.file == str(tmp_path / "scripts.yaml")
    assert finding.position == Position(line_of(SCRIPTS, "resolvd"), column_of(SCRIPTS, "resolvd"))
    assert "did you mean 'resolved'" in finding.message


def test_a_catalog_file_that_does_not_load_is_reported_with_its_position(tmp_path: Path) -> None:
    findings = lint(
        tmp_path,
        {"main": FLOW},
        dispositions="dispositions:\n  resolved: {label: Resolved, note: yes}\n",
    )
    [finding] = of_rule(findings, "unknown-field")
    assert (finding.file, finding.position) == (
        str(tmp_path / "dispositions.yaml"),
        Position(2, 31),
    )


def test_missing_recordings_are_listed_with_their_text(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    (sounds / "en").mkdir(parents=True)
    (sounds / "hello.gsm").write_bytes(b"")
    (sounds / "en" / "goodbye.wav").write_bytes(b"")
    flow = FLOW.replace(
        "prompts: [{sound: main-menu", "prompts: [hello, goodbye, {sound: main-menu"
    )
    findings = of_rule(lint(tmp_path / "dialplan", {"main": flow}, sounds=sounds), "missing-sound")
    by_sound = {f.message.split("'")[1]: f for f in findings}
    assert set(by_sound) == {"main-menu", "pm-invalid-option"}
    assert by_sound["main-menu"].severity == "warning"
    assert by_sound["main-menu"].position == Position(
        line_of(flow, "main-menu"), column_of(flow, "{sound: main-menu")
    )
    assert "record 'For billing, press 1.'" in by_sound["main-menu"].message
    assert "the default of settings.invalid_prompts" in by_sound["pm-invalid-option"].message


QUEUE_BRANCH = """\
entry: check
nodes:
  check:
    type: branch
    cases:
      - {when: "queue.biling.ewt_s > 600", goto: billing}
    default: billing
  billing: {type: transfer, queue: billing, topic: billing}
"""


def test_a_condition_on_a_queue_queues_yaml_lacks_is_an_error(tmp_path: Path) -> None:
    [finding] = of_rule(lint(tmp_path, {"main": QUEUE_BRANCH}, queues=QUEUES), "unknown-queue")
    assert finding.position.line == line_of(QUEUE_BRANCH, "queue.biling")
    assert "reads the state of queue 'biling'" in finding.message
    assert "did you mean 'billing'" in finding.message
