"""Lint of the busy-queue nodes (docs/dialplan.md, "Busy queues and floods"): queues that
exist, thresholds that make sense, flood messages every flood node can say."""

from __future__ import annotations

from pathlib import Path

from ivr.source import Position

from .lint_support import column_of, line_of, lint, of_rule

QUEUES = """\
operator: operator
queues:
  operator: {strategy: ringall}
  billing: {strategy: rrmemory}
"""


def busy(overflow: str = "max_wait: 45m", offer: str = "10m", queue: str = "billing") -> str:
    return f"""\
entry: full
nodes:
  full:
    type: overflow
    queue: billing
    {overflow}
    to: sorry
    next: offer
  offer:
    type: callback
    queue: {queue}
    offer_above: {offer}
    declined: estimate
  estimate: {{type: wait, queue: billing, next: billing}}
  billing: {{type: transfer, queue: billing}}
  sorry: {{type: transfer, queue: operator}}
"""


def test_a_sensible_busy_flow_has_no_findings(tmp_path: Path) -> None:
    report = lint(tmp_path, {"main": busy()}, queues=QUEUES)
    assert report == []


def test_a_callback_on_an_unknown_queue_is_an_error_at_its_name(tmp_path: Path) -> None:
    flow = busy(queue="biling")
    [finding] = of_rule(lint(tmp_path, {"main": flow}, queues=QUEUES), "unknown-queue")
    assert finding.severity == "error"
    assert finding.position == Position(line_of(flow, "biling"), column_of(flow, "biling"))
    assert "callback 'offer'" in finding.message and "did you mean 'billing'" in finding.message


def test_a_callback_offered_to_everyone_is_a_warning(tmp_path: Path) -> None:
    flow = busy(offer="20s")
    [finding] = of_rule(lint(tmp_path, {"main": flow}, queues=QUEUES), "queue-threshold")
    assert finding.severity == "warning"
    assert finding.position == Position(line_of(flow, "20s"), column_of(flow, "20s"))


def test_a_callback_offered_only_past_hours_is_a_warning(tmp_path: Path) -> None:
    flow = busy(overflow="max_wait: 240m", offer="180m")
    [finding] = of_rule(lint(tmp_path, {"main": flow}, queues=QUEUES), "queue-threshold")
    assert "callers hang up long before" in finding.message


def test_an_overflow_that_leaves_no_room_for_the_callback_after_it_is_a_warning(
    tmp_path: Path,
) -> None:
    flow = busy(overflow="max_wait: 5m", offer="10m")
    [finding] = of_rule(lint(tmp_path, {"main": flow}, queues=QUEUES), "queue-threshold")
    assert "'offer'" in finding.message and "never offered" in finding.message
    assert finding.position.line == line_of(flow, "max_wait: 5m")


def test_a_nonsense_number_is_a_schema_error_with_its_position(tmp_path: Path) -> None:
    flow = busy(overflow="max_waiting: 0")
    findings = lint(tmp_path, {"main": flow}, queues=QUEUES)
    errors = [f for f in findings if f.severity == "error"]
    assert errors and errors[0].position.line == line_of(flow, "max_waiting: 0")


FLOOD = """\
entry: flood
nodes:
  flood:
    type: flood
    messages:
      {messages}
    next: update
    normal: billing
  update: {{type: hangup, prompts: [{{sound: acme-update, text: Update.}}]}}
  billing: {{type: transfer, queue: billing}}
"""


def test_a_flood_node_without_a_message_another_has_is_a_warning(tmp_path: Path) -> None:
    both = FLOOD.format(messages="known-outage: [acme-outage]\n      price-change: [acme-prices]")
    one = FLOOD.format(messages="known-outage: [acme-outage]")
    report = lint(tmp_path, {"main": both, "other": one}, queues=QUEUES)
    [finding] = of_rule(report, "flood-message")
    assert finding.file.endswith("other.yaml")
    assert "'price-change'" in finding.message


def test_a_flood_node_with_no_message_is_an_error(tmp_path: Path) -> None:
    flow = FLOOD.format(messages="{}")
    findings = lint(tmp_path, {"main": flow}, queues=QUEUES)
    assert any(f.severity == "error" and "messages" in f.message for f in findings), findings
