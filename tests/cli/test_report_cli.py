"""`callpop report` through the CLI: text, JSON and the heat-map over journeys stored in
the configured SQLite database (the same numbers on PostgreSQL: tests/callpop/test_report.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callpop.cli import cli
from tests.callpop.known_journeys import Call, site

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialplan"
GROWN = ROOT / "tests" / "fixtures" / "grown"

SAMPLE_CALLS = [
    *[Call("1 2")] * 3,
    *[Call("h")] * 2,
    Call("0"),
    Call("w w"),
    Call("9 1 2"),
    Call("1 h"),
]
# On the 6x9 flow: down to level 6 and desk 6.9; hang-ups at levels 3 and 6; one zero-out at 2.
GROWN_CALLS = [
    *[Call("1 1 1 1 1 9")] * 4,
    *[Call("1 1 h")] * 3,
    *[Call("1 1 1 1 1 h")] * 1,
    *[Call("1 0")] * 2,
    *[Call("5")] * 10,
]


def report(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "report", *args])


def test_text_report_of_the_sample(tmp_path: Path) -> None:
    result = report(site(tmp_path, SAMPLE, SAMPLE_CALLS))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "Journeys: 9 calls (all stored journeys)",
        "Outcomes: hangup 3 (33.3%), queue 6 (66.7%)",
    ]
    menu = next(line for line in lines if line.startswith("main:main_menu "))
    assert menu.split() == [
        "main:main_menu",
        "menu",
        "9",
        "2",
        "1",
        "1",
        "1",
        "2",
        "22.2%",
        "23.0s",
        "1:5",
    ]
    assert "billing        queue      billing                    4   42.0s   36.8s   57.7s" in lines


def test_json_report_of_the_grown_6x9_flow(tmp_path: Path) -> None:
    result = report(site(tmp_path, GROWN, GROWN_CALLS), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["calls"] == 20
    nodes = {n["node"]: n for n in data["nodes"]}
    assert nodes["menu1"]["entries"] == 20
    assert nodes["menu1"]["keys"] == {"5": 10, "1": 10}
    assert (nodes["menu2"]["entries"], nodes["menu2"]["operator"]) == (10, 2)
    assert (nodes["menu3"]["entries"], nodes["menu3"]["hangups"], nodes["menu3"]["drop_off"]) == (
        8,
        3,
        0.375,
    )
    assert (nodes["menu6"]["entries"], nodes["menu6"]["hangups"], nodes["menu6"]["keys"]) == (
        5,
        1,
        {"9": 4},
    )
    intents = {(i["topic"], i["target"]): i["calls"] for i in data["intents"]}
    assert intents[("moving", "billing")] == 4  # desk6_9: queue billing, topic moving
    assert intents[("complaints", "tech")] == 10  # desk1_5: queue tech, topic complaints


def test_svg_heat_map_colours_nodes_by_drop_off(tmp_path: Path) -> None:
    out = tmp_path / "heat.svg"
    result = report(site(tmp_path, GROWN, GROWN_CALLS), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"{out}: svg report of 20 calls\n"
    root = ET.fromstring(out.read_text(encoding="utf-8"))
    heat = {
        g.get("data-node"): float(g.get("data-drop-off") or "nan")
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "heat"
    }
    assert heat["menu3"] == 0.375
    assert heat["menu6"] == 0.2
    assert heat["menu1"] == 0.0
    assert "desk4_2" not in heat  # no call went there: drawn, not tinted
    text = out.read_text(encoding="utf-8")
    assert "Drop-off (callers who hung up) · 20 calls" in text
    assert "8 visits · 37.5% hung up" in text


def test_filters_reach_the_report(tmp_path: Path) -> None:
    config = site(tmp_path, SAMPLE, [*SAMPLE_CALLS[:3], Call("0", version="other", day=2)])
    assert (
        report(config, "--version", "other").stdout.splitlines()[0]
        == "Journeys: 1 calls (version other)"
    )
    since = report(config, "--since", "2026-12-08")
    assert since.stdout.splitlines()[0] == "Journeys: 1 calls (since 2026-12-08T00:00:00+00:00)"
    assert report(config, "--flow", "tech").stdout.splitlines() == [
        "Journeys: 0 calls (flow tech)",
        "No journeys match.",
    ]


@pytest.mark.parametrize("since", ["yesterday", "7x", "2026-13-01"])
def test_a_bad_since_is_bad_usage(tmp_path: Path, since: str) -> None:
    result = report(site(tmp_path, SAMPLE, []), "--since", since)
    assert result.exit_code == 2
    assert (
        "write a date or time (2026-12-01, 2026-12-01T08:00Z) or an age (30m, 24h, 7d)"
        in result.output
    )


def test_a_database_without_tables_says_to_upgrade(tmp_path: Path) -> None:
    config = tmp_path / "callpop.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path / 'empty.db'}\ndialplan: {SAMPLE}\n", encoding="utf-8"
    )
    result = report(config)
    assert result.exit_code == 1
    assert (
        "cannot read the journeys: no such table: journey_nodes (run callpop db upgrade)"
        in result.output
    )


def test_flow_shows_a_sub_flow_s_nodes_reached_from_main(tmp_path: Path) -> None:
    config = site(tmp_path, SAMPLE, [Call("2 2"), Call("2 h"), Call("1 2")])
    data = json.loads(report(config, "--flow", "tech", "--format", "json").stdout)
    assert [(n["node"], n["entries"], n["hangups"]) for n in data["nodes"]] == [
        ("tech_menu", 2, 1),
        ("tv_support", 1, 0),
    ]
    assert data["calls"] == 0  # none entered the tech flow itself
    heat = tmp_path / "tech.svg"
    assert report(config, "--flow", "tech", "-o", str(heat)).exit_code == 0
    assert 'data-node="tech_menu" data-drop-off="0.5000"' in heat.read_text(encoding="utf-8")
