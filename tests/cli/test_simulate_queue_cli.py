"""`callpop simulate --queue Q:FIELD=V,...`: the queue state a flow's branches read."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from callpop.cli import cli

FLOW = """\
entry: check
nodes:
  check:
    type: branch
    cases:
      - {when: "queue.billing.available == 0 and queue.billing.ewt_s > 600", goto: overflow}
    default: billing
  overflow: {type: transfer, queue: overflow}
  billing: {type: transfer, queue: billing}
"""


def simulate(tmp_path: Path, *queues: str) -> Result:
    flow = tmp_path / "busy.yaml"
    flow.write_text(FLOW)
    options = [a for q in queues for a in ("--queue", q)]
    args = ["simulate", str(flow), "--caller", "+15551234567", "--keys", "", "--json", *options]
    return CliRunner().invoke(cli, args)


def test_a_long_estimate_with_no_agent_free_sends_the_caller_to_the_overflow(
    tmp_path: Path,
) -> None:
    result = simulate(tmp_path, "billing:ewt=900,available=0")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["outcome"]["target"]["name"] == "overflow"
    assert run["steps"][0]["action"] == "queue-lookup"


def test_a_short_estimate_joins_the_queue(tmp_path: Path) -> None:
    run = json.loads(simulate(tmp_path, "billing:ewt=60,available=0").stdout)
    assert run["outcome"]["target"]["name"] == "billing"


def test_without_the_queue_state_the_condition_is_false(tmp_path: Path) -> None:
    run = json.loads(simulate(tmp_path).stdout)
    assert run["outcome"]["target"]["name"] == "billing"


def test_a_malformed_queue_option_is_one_clear_line(tmp_path: Path) -> None:
    result = simulate(tmp_path, "billing:ewt=soon")
    assert result.exit_code == 2
    assert "--queue" in result.output and "'ewt=soon'" in result.output


def test_a_stale_queue_state_is_read_as_unknown_and_said_so(tmp_path: Path) -> None:
    stale = json.loads(simulate(tmp_path, "billing:stale", "sales:ewt=900").stdout)
    unknown = json.loads(simulate(tmp_path).stdout)
    assert stale["outcome"] == unknown["outcome"]
    assert stale["outcome"]["target"]["name"] == "billing"
    flow = tmp_path / "busy.yaml"
    args = ["simulate", str(flow), "--caller", "+15551234567", "--keys", ""]
    shown = CliRunner().invoke(cli, [*args, "--queue", "billing:stale"])
    assert "queue state: billing(stale: unknown)" in shown.stdout
