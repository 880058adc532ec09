"""`callpop lint PATH...`: the output lines and exit codes of design.md's CLI table."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result

from callpop.cli import cli
from ivr.lint import RULES

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "flows"
LINE = re.compile(
    r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning): (?P<message>.+) \[(?P<rule>[a-z0-9-]+)\]$"
)


def lint(*args: str) -> Result:
    return CliRunner().invoke(cli, ["lint", *args])


def findings(result: Result) -> list[dict[str, str]]:
    lines = result.stdout.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    return [m.groupdict() for m in matches if m]


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_the_sample_dialplan_passes_with_a_summary_on_stderr() -> None:
    result = lint(str(ROOT / "dialplan"))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert re.fullmatch(r"callpop lint: \d+ files checked, no problems\n", result.stderr)


def test_a_five_level_flow_fails_at_the_line_of_the_fifth_menu() -> None:
    path = FIXTURES / "five_levels.yaml"
    result = lint(str(path))
    assert result.exit_code == 1
    [finding] = findings(result)
    assert finding["rule"] == "menu-depth" and finding["severity"] == "error"
    assert (finding["file"], int(finding["line"]), int(finding["col"])) == (
        str(path),
        line_of(path, "level5:"),
        3,
    )


def test_a_five_option_flow_fails_at_the_line_of_the_menu() -> None:
    path = FIXTURES / "five_options.yaml"
    result = lint(str(path))
    assert result.exit_code == 1
    [finding] = findings(result)
    assert finding["rule"] == "menu-options"
    assert int(finding["line"]) == line_of(path, "main_menu:")


def test_broken_yaml_fails_with_its_position() -> None:
    path = FIXTURES / "broken.yaml"
    result = lint(str(path))
    assert result.exit_code == 1
    [finding] = findings(result)
    assert finding["rule"] == "yaml-syntax"
    assert int(finding["line"]) >= line_of(path, "prompts: [{sound: menu}")


def test_a_dangling_node_fails_at_the_target() -> None:
    path = FIXTURES / "dangling.yaml"
    result = lint(str(path))
    assert result.exit_code == 1
    # The node meant, `support`, is then reached by nothing: a warning of its own.
    assert [f["rule"] for f in findings(result)] == ["dangling-target", "unreachable-node"]
    finding = findings(result)[0]
    assert int(finding["line"]) == line_of(path, "suport")
    assert (
        int(finding["col"])
        == path.read_text().splitlines()[int(finding["line"]) - 1].index("suport") + 1
    )


def test_a_missing_file_is_an_io_error_at_line_1_column_1(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = lint(str(missing))
    assert result.exit_code == 1
    assert result.stdout == f"{missing}:1:1: error: no such file or folder [io-error]\n"


def test_warnings_alone_exit_0() -> None:
    result = lint(str(FIXTURES / "unreachable.yaml"))
    assert result.exit_code == 0
    assert [f["rule"] for f in findings(result)] == ["unreachable-node"]
    assert "0 errors, 1 warning" in result.stderr


def test_findings_of_several_files_are_sorted_by_file_then_position(tmp_path: Path) -> None:
    result = lint(
        str(FIXTURES / "five_options.yaml"),
        str(FIXTURES / "dangling.yaml"),
        str(FIXTURES / "unreachable.yaml"),
    )
    keys = [(f["file"], int(f["line"]), int(f["col"])) for f in findings(result)]
    assert keys == sorted(keys) and len(keys) == 4


def test_sounds_lists_the_recordings_to_make(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    for name in ("lvl1", "lvl2", "lvl3", "lvl4", "pm-invalid-option"):
        (sounds / f"{name}.gsm").write_bytes(b"")
    result = lint("--sounds", str(sounds), str(FIXTURES / "five_levels.yaml"))
    assert [f["rule"] for f in findings(result)] == ["menu-depth", "missing-sound"]
    assert "'lvl5'" in findings(result)[1]["message"]


def test_sounds_must_be_a_folder() -> None:
    assert lint("--sounds", str(ROOT / "no-such-folder"), str(ROOT / "dialplan")).exit_code == 2


def test_no_path_is_bad_usage() -> None:
    result = lint()
    assert result.exit_code == 2
    assert "dialplan/" in result.stderr


def test_rules_lists_every_rule_with_its_meaning() -> None:
    result = lint("--rules")
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == list(RULES)


def test_explain_prints_one_rule() -> None:
    result = lint("--explain", "menu-depth")
    assert result.exit_code == 0
    assert result.stdout.startswith("menu-depth (error): ")
    assert "limits.max_depth" in result.stdout


def test_explaining_an_unknown_rule_is_bad_usage() -> None:
    assert lint("--explain", "menu-deep").exit_code == 2


def test_schema_writes_the_json_schemas(tmp_path: Path) -> None:
    result = lint("--schema", str(tmp_path))
    assert result.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dispositions.json",
        "flow.json",
        "pause_reasons.json",
        "queues.json",
        "schedules.json",
        "scripts.json",
    ]


def test_a_break_reason_listed_twice_is_one_line_at_the_list(tmp_path: Path) -> None:
    reasons = tmp_path / "pause_reasons.yaml"
    reasons.write_text("pause_reasons:\n  - Lunch\n  - Training\n  - Lunch\n", encoding="utf-8")
    result = lint(str(reasons))
    assert result.exit_code == 1
    (only,) = findings(result)
    assert (only["file"], only["severity"], only["rule"]) == (
        str(reasons),
        "error",
        "invalid-value",
    )
    assert only["line"] == "2"  # the list, whose item repeats (pydantic checks the whole list)
    assert "'Lunch' is listed twice" in only["message"]


def test_a_break_reason_over_forty_characters_is_refused_at_its_line(tmp_path: Path) -> None:
    reasons = tmp_path / "pause_reasons.yaml"
    reasons.write_text("pause_reasons:\n  - Lunch\n  - " + "x" * 41 + "\n", encoding="utf-8")
    (only,) = findings(lint(str(reasons)))
    assert (only["line"], only["col"]) == (str(line_of(reasons, "xxx")), "5")
