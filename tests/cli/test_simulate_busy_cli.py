"""`callpop simulate --flood MESSAGE --queue billing:ewt=900`: the busy-queue steps of the
sample dialplan, with no PBX (docs/dialplan.md, "Busy queues and floods")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from callpop.cli import cli

MAIN = Path(__file__).resolve().parents[2] / "dialplan" / "flows" / "main.yaml"
MONDAY = "2026-12-07T10:00-05:00"


def simulate(tmp_path: Path, keys: str, *options: str) -> Result:
    config = tmp_path / "callpop.yaml"
    config.write_text("phone: {default_region: US}\n")
    args = ["--config", str(config), "simulate", str(MAIN), "--caller", "5551234567"]
    return CliRunner().invoke(cli, [*args, "--at", MONDAY, "--keys", keys, "--json", *options])


def run(tmp_path: Path, keys: str, *options: str) -> dict[str, Any]:
    result = simulate(tmp_path, keys, *options)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_flood_mode_plays_the_known_cause_then_the_flood_menu(tmp_path: Path) -> None:
    sim = run(tmp_path, "1", "--flood", "known-outage")
    nodes = [step["node"] for step in sim["steps"]]
    assert nodes.index("flood_check") < nodes.index("flood_menu")
    flood = next(s for s in sim["steps"] if s["node"] == "flood_check" and s["action"] == "play")
    assert flood["prompts"][0]["sound"] == "acme-known-outage"


def test_without_flood_mode_the_usual_main_menu(tmp_path: Path) -> None:
    sim = run(tmp_path, "0")
    nodes = [step["node"] for step in sim["steps"]]
    assert "main_menu" in nodes and "flood_menu" not in nodes


def test_a_long_wait_is_announced_and_a_callback_stored_with_its_place(tmp_path: Path) -> None:
    sim = run(
        tmp_path, "1 2 1 #", "--queue", "billing:ewt=900,available=0,callers=5",
        "--callbacks-ahead", "2",
    )  # fmt: skip
    said = next(s for s in sim["steps"] if s["node"] == "billing_wait" and s["action"] == "play")
    assert [p["text"] for p in said["prompts"]][1:] == ["15", "minutes"]
    booked = next(s for s in sim["steps"] if s["action"] == "callback")
    assert booked["event"] == "stored"
    goodbye = sim["steps"][-1]
    assert [p["text"] for p in goodbye["prompts"]][-2:] == ["3", "Goodbye."]  # their place
    assert sim["outcome"]["type"] == "hangup"
    assert sim["journey"]["outcome"]["reason"] == "callback-requested"


def test_a_number_the_sites_region_cannot_call_is_asked_again(tmp_path: Path) -> None:
    sim = run(tmp_path, "1 2 1 12# 34#", "--queue", "billing:ewt=900")
    answers = [s["event"] for s in sim["steps"] if s["action"] == "callback"]
    assert answers == ["invalid_number", "invalid_number"]
    assert sim["outcome"]["target"]["name"] == "billing"  # kept their place in the queue


def test_a_full_queue_overflows(tmp_path: Path) -> None:
    sim = run(tmp_path, "1 2", "--queue", "billing:available=0,callers=30,ewt=900")
    nodes = [step["node"] for step in sim["steps"]]
    assert "billing_full" in nodes and "billing_wait" not in nodes


def test_a_bad_flood_message_name_is_one_clear_line(tmp_path: Path) -> None:
    result = simulate(tmp_path, "1", "--flood", "known outage!")
    assert result.exit_code == 2
    assert "--flood" in result.output and "not a message name" in result.output
