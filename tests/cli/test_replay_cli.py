"""`callpop simulate FLOW --replay CALL_ID`: a stored call's keys replayed on a version,
and where the two part (exit 1), through the CLI on the sample and the 6x9 flow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callpop.cli import cli
from ivr.version import hash_dialplan
from tests.callpop.known_journeys import Call, dialplan_repo, git, site

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialplan"
GROWN = ROOT / "tests" / "fixtures" / "grown"


def replay(config: Path, flow_file: Path, call_id: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(config), "simulate", str(flow_file), "--replay", call_id, *args]
    )


def edited(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    folder = tmp_path / "edited"
    shutil.copytree(source, folder)
    main = folder / "flows" / "main.yaml"
    text = main.read_text(encoding="utf-8")
    assert old in text
    main.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


REKEY = (
    '"1": {goto: billing_menu, topic: billing, label: Billing and payments}\n'
    '      "2": {goto: tech, topic: tech, label: Technical support}\n'
    '      "3": {goto: sales_menu, topic: sales, label: New services and plans}',
    '"5": {goto: billing_menu, topic: billing, label: Billing and payments}\n'
    '      "2": {goto: tech, topic: tech, label: Technical support}\n'
    '      "1": {goto: sales_menu, topic: sales, label: New services and plans}',
)


def test_a_call_replayed_on_the_version_it_ran_on_follows_the_same_path(tmp_path: Path) -> None:
    config = site(tmp_path, SAMPLE, [Call("9 1 2", version=hash_dialplan(SAMPLE))])
    result = replay(config, SAMPLE / "flows" / "main.yaml", "call-0")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        lines[1]
        == f"on {SAMPLE} as it is now, version {hash_dialplan(SAMPLE)} (the version the call ran on)"
    )
    assert any(" main:main_menu 6.2s keys 9 1 → 1 " in line for line in lines)
    assert lines[-2:] == [
        "Outcome: stored queue billing, priority 1; replayed queue billing, priority 1",
        "Same path and outcome: the two versions treat this call alike.",
    ]


def test_a_re_keyed_menu_makes_the_replay_diverge_where_the_key_now_leads(tmp_path: Path) -> None:
    config = site(tmp_path, SAMPLE, [Call("1 2", version=hash_dialplan(SAMPLE))])
    changed = edited(tmp_path, SAMPLE, *REKEY)
    result = replay(config, changed / "flows" / "main.yaml", "call-0", "--on", "current")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert (
        lines[-1]
        == "Diverges at step 6: the stored call went to main:billing_menu, the replay to main:sales_menu"
    )
    assert "Outcome: stored queue billing, priority 1; replayed queue sales, priority 2" in lines
    assert next(line for line in lines if line.startswith("  6≠")).split()[1] == "main:billing_menu"


def test_json_names_the_divergence_step(tmp_path: Path) -> None:
    config = site(tmp_path, SAMPLE, [Call("h", version=hash_dialplan(SAMPLE))])
    changed = edited(tmp_path, SAMPLE, "    next: hours\n", "    next: main_menu\n")
    result = replay(config, changed / "flows" / "main.yaml", "call-0", "--on", "current", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["divergence"] == {
        "step": 2,
        "reason": "the stored call went to main:hours, the replay to main:main_menu",
    }
    assert data["outcome"] == {"stored": "hangup", "replayed": "hangup"}


def test_the_6x9_flow_diverges_at_its_deepest_menu(tmp_path: Path) -> None:
    config = site(tmp_path, GROWN, [Call("1 1 1 1 1 9", version=hash_dialplan(GROWN))])
    changed = edited(
        tmp_path,
        GROWN,
        '"9": {goto: desk6_9, topic: moving, label: Choice 6.9}',
        '"9": {goto: desk6_8, topic: moving, label: Choice 6.9}',
    )
    result = replay(config, changed / "flows" / "main.yaml", "call-0", "--on", "current")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == (
        "Diverges at step 8: the stored call went to main:desk6_9, the replay to main:desk6_8"
    )


def test_the_version_a_call_ran_on_is_found_in_git_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = dialplan_repo(tmp_path, SAMPLE)
    ran_on = hash_dialplan(repo / "dialplan")
    config = site(tmp_path, repo / "dialplan", [Call("1 2", version=ran_on)])
    main = repo / "dialplan" / "flows" / "main.yaml"
    main.write_text(main.read_text(encoding="utf-8").replace(*REKEY), encoding="utf-8")
    git(repo, "commit", "-q", "-am", "v2: sales on key 1")
    monkeypatch.chdir(repo)
    original = replay(config, Path("dialplan/flows/main.yaml"), "call-0")
    assert original.exit_code == 0, original.output
    assert f", version {ran_on} (the version the call ran on)" in original.stdout.splitlines()[1]
    current = replay(config, Path("dialplan/flows/main.yaml"), "call-0", "--on", "current")
    assert current.exit_code == 1
    assert "Diverges at step 6" in current.stdout


def test_an_unknown_call_or_a_lost_version_is_a_clear_error(tmp_path: Path) -> None:
    config = site(tmp_path, SAMPLE, [Call("1 2", version="000000000000")])
    missing = replay(config, SAMPLE / "flows" / "main.yaml", "no-such-call")
    assert missing.exit_code == 1
    assert "no stored journey for call 'no-such-call' in the configured database" in missing.output
    lost = replay(config, SAMPLE / "flows" / "main.yaml", "call-0", "--on", "original")
    assert lost.exit_code == 1
    assert "version 000000000000 (the call's) is neither" in lost.output


def test_without_replay_the_caller_is_still_required() -> None:
    result = CliRunner().invoke(
        cli, ["simulate", str(SAMPLE / "flows" / "main.yaml"), "--keys", "1"]
    )
    assert result.exit_code == 2
    assert "Missing option '--caller'" in result.output
