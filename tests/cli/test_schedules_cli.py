"""Named schedules (`dialplan/schedules.yaml`): opening hours defined once, used by
every `hours` node that says `schedule: NAME`, through the CLI an admin runs."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from callpop.cli import cli

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "schedules"
CALLER = "+15551234567"

MONDAY_MORNING = "2026-11-23T10:00:00-05:00"  # office: mon-fri 08:00-18:00 New York
SATURDAY_AFTERNOON = "2026-11-21T14:00:00-05:00"  # office: sat 09:00-12:00, so closed
CHRISTMAS = "2026-12-25T10:00:00-05:00"  # a Friday, but a holiday of the schedule


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def copy_with(tmp_path: Path, file: str, *edits: tuple[str, str]) -> Path:
    """A copy of the fixture dialplan with text replacements in one of its files."""
    folder = tmp_path / "edited"
    shutil.copytree(FIXTURE, folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return folder


def destination(keys: str, at: str) -> tuple[str, str | None]:
    result = run(
        "simulate", str(FIXTURE / "flows" / "main.yaml"), "--caller", CALLER,
        "--keys", keys, "--at", at, "--crm", "none", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    outcome = json.loads(result.stdout)["outcome"]
    return outcome["type"], None if outcome["target"] is None else outcome["target"]["name"]


def test_two_hours_nodes_on_one_named_schedule_both_route_by_it() -> None:
    assert [destination(k, MONDAY_MORNING) for k in "12"] == [
        ("transfer", "sales"),
        ("transfer", "support"),
    ]
    assert [destination(k, SATURDAY_AFTERNOON) for k in "12"] == [
        ("transfer", "8100@fixture"),
        ("transfer", "8200@fixture"),
    ]
    assert [destination(k, CHRISTMAS) for k in "12"] == [("hangup", None), ("hangup", None)]


def test_a_schedule_name_schedules_yaml_does_not_define_is_a_lint_error_at_the_name(
    tmp_path: Path,
) -> None:
    folder = copy_with(
        tmp_path,
        "flows/main.yaml",
        ("schedule: office\n    open: support", "schedule: ofice\n    open: support"),
    )
    result = run("lint", str(folder))
    assert result.exit_code == 1
    line = f"{folder / 'flows' / 'main.yaml'}:30:15: error: hours 'support_hours' uses schedule 'ofice'"
    assert line in result.output
    assert "(did you mean 'office'?) [unknown-schedule]" in result.output


def test_an_hours_node_with_a_schedule_and_its_own_timezone_is_a_lint_error_at_the_node(
    tmp_path: Path,
) -> None:
    folder = copy_with(
        tmp_path,
        "flows/main.yaml",
        (
            "schedule: office\n    open: sales",
            "schedule: office\n    timezone: Europe/Paris\n    open: sales",
        ),
    )
    result = run("lint", str(folder))
    assert result.exit_code == 1
    assert (
        f"{folder / 'flows' / 'main.yaml'}:19:3: error: nodes.sales_hours: an hours node"
        in result.output
    )
    assert "names a schedule or has its own timezone, not both" in result.output


def test_a_schedule_file_with_a_bad_timezone_is_an_error_at_that_line(tmp_path: Path) -> None:
    folder = copy_with(tmp_path, "schedules.yaml", ("America/New_York", "America/Nowhere"))
    result = run("lint", str(folder))
    assert result.exit_code == 1
    assert result.output.splitlines()[:-1] == [
        f"{folder / 'schedules.yaml'}:9:15: error: schedules.office.timezone: unknown timezone "
        "'America/Nowhere': use an IANA name such as Europe/Paris or America/New_York [invalid-value]"
    ]


def test_diff_reports_a_changed_named_schedule_once_not_per_node(tmp_path: Path) -> None:
    folder = copy_with(tmp_path, "schedules.yaml", ('sat: "09:00-12:00"', 'sat: "09:00-13:00"'))
    result = run("diff", str(FIXTURE), str(folder))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "schedules",
        "  office",
        "    ~ hours sat: 09:00-12:00 -> 09:00-13:00",
        "1 change: 0 added, 0 removed, 1 changed",
    ]


def test_the_pack_shows_a_named_schedule_once_with_the_nodes_that_use_it(tmp_path: Path) -> None:
    out = tmp_path / "pack.html"
    assert run("doc", str(FIXTURE), "-o", str(out)).exit_code == 0
    page = out.read_text(encoding="utf-8")
    section = page[page.index('id="hours"') : page.index('id="queues"')]
    words = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", section)))
    assert words.count("Schedule office") == 1
    assert words.count("mon-fri 08:00-18:00") == 1
    assert "Holidays (closed) 2026-12-25" in words
    assert "Used by Sales hours main:sales_hours open → sales; closed → sales_voicemail" in words
    assert (
        "Used by Support hours main:support_hours open → support; closed → support_voicemail"
        in words
    )


def test_the_reach_table_finds_the_closed_hours_and_holiday_of_a_named_schedule(
    tmp_path: Path,
) -> None:
    out = tmp_path / "pack.html"
    assert run("doc", str(FIXTURE), "-o", str(out)).exit_code == 0
    page = out.read_text(encoding="utf-8")
    section = page[page.index('id="reach"') : page.index('id="flow-')]
    words = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", section)))
    # destination, keys, menus passed, seconds (any), the circumstance the route needs
    assert re.search(r"main:sales_voicemail voicemail 8100@fixture 1 choose [0-9.]+ closed", words)
    assert re.search(
        r"main:support_voicemail voicemail 8200@fixture 2 choose [0-9.]+ closed", words
    )
    assert re.search(r"main:goodbye the call ends 1 choose [0-9.]+ holiday", words)


def test_an_hours_node_with_neither_a_schedule_nor_weekly_hours_is_a_lint_error_at_the_node(
    tmp_path: Path,
) -> None:
    folder = copy_with(
        tmp_path,
        "flows/main.yaml",
        ("schedule: office\n    open: sales", "timezone: Europe/Paris\n    open: sales"),
    )
    result = run("lint", str(folder))
    assert result.exit_code == 1
    assert f"{folder / 'flows' / 'main.yaml'}:19:3: error: nodes.sales_hours:" in result.output
    assert (
        "needs schedule: NAME (from schedules.yaml) or its own timezone and weekly; weekly missing"
        in result.output
    )
