"""`callpop flood on|off|status`: one switch in the shared database."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from callpop.cli import cli


def flood(tmp_path: Path, *args: str) -> Result:
    config = tmp_path / "callpop.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'callpop.db'}\n")
    return CliRunner().invoke(cli, ["--config", str(config), "flood", *args])


def test_flood_mode_switched_on_is_seen_by_the_next_command(tmp_path: Path) -> None:
    assert flood(tmp_path, "on", "--message", "known-outage").exit_code == 0
    status = flood(tmp_path, "status")
    assert status.exit_code == 0
    assert status.output.startswith("flood mode on, message known-outage")


def test_flood_mode_switched_off_stays_off(tmp_path: Path) -> None:
    flood(tmp_path, "on", "--message", "known-outage")
    assert flood(tmp_path, "off").exit_code == 0
    assert flood(tmp_path, "status").output.startswith("flood mode off")


def test_a_message_that_is_not_a_name_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    result = flood(tmp_path, "on", "--message", "../../etc/passwd")
    assert result.exit_code == 2
    assert "--message" in result.output
    assert flood(tmp_path, "status").output == "flood mode off\n"


SAMPLE = Path(__file__).resolve().parents[2] / "dialplan"


def flood_on_sample(tmp_path: Path, message: str) -> Result:
    config = tmp_path / "callpop.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'callpop.db'}\ndialplan: {SAMPLE}\n")
    return CliRunner().invoke(cli, ["--config", str(config), "flood", "on", "--message", message])


def test_a_message_the_flood_nodes_can_say_is_switched_on(tmp_path: Path) -> None:
    result = flood_on_sample(tmp_path, "price-change")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("flood mode on, message price-change")


def test_a_message_no_flood_node_can_say_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    result = flood_on_sample(tmp_path, "known-outgae")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"callpop flood on: no flood node of {SAMPLE} has a message 'known-outgae' "
        "(they have: known-outage, price-change); add its prompts to the flood nodes first"
    )
    assert flood(tmp_path, "status").output == "flood mode off\n"
