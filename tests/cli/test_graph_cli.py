"""`callpop graph`: the sample drawn in each format, and how a broken flow is refused."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner, Result

from callpop.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialplan" / "flows" / "main.yaml"


def graph(*args: str) -> Result:
    return CliRunner().invoke(cli, ["graph", *args])


def test_the_sample_as_svg_in_a_file(tmp_path: Path) -> None:
    out = tmp_path / "main.svg"
    result = graph(str(SAMPLE), "--format", "svg", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    root = ET.fromstring(out.read_text(encoding="utf-8"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = out.read_text(encoding="utf-8")
    assert "For billing and payments, press 1." in text
    assert 'id="node-main_menu"' in text


def test_the_sample_as_mermaid_on_stdout() -> None:
    result = graph(str(SAMPLE), "--format", "mermaid")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["%% IVR flow main", "flowchart LR"]
    assert any('-->|"1 · Billing and payments<br/>topic billing"|' in line for line in lines)


def test_the_sample_as_dot_on_stdout() -> None:
    result = graph(str(SAMPLE), "--format", "dot")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith('digraph "main" {')
    assert (
        '"main_menu" -> "billing_menu" [label="1 · Billing and payments\\ntopic billing\\n"];'
        in result.stdout
    )


def test_svg_is_the_default_format() -> None:
    result = graph(str(SAMPLE))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')


def test_the_output_file_s_extension_chooses_the_format(tmp_path: Path) -> None:
    out = tmp_path / "main.mmd"
    result = graph(str(SAMPLE), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_text(encoding="utf-8").startswith("%% IVR flow main\nflowchart LR\n")


def test_a_broken_flow_exits_1_with_its_position_and_writes_nothing(tmp_path: Path) -> None:
    flow = tmp_path / "main.yaml"
    flow.write_text(
        "entry: a\nnodes:\n  a:\n    type: play\n    prompts: [hello]\n    next: a\n    next: b\n"
    )
    out = tmp_path / "main.svg"
    result = graph(str(flow), "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{flow}:7:5: error:")
    assert not out.exists()


def test_a_missing_flow_file_is_an_io_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = graph(str(missing))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{missing}:1:1: error:")
    assert "[io-error]" in result.stderr


def test_an_unknown_format_is_bad_usage() -> None:
    assert graph(str(SAMPLE), "--format", "png").exit_code == 2
