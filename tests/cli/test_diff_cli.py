"""`callpop diff`: what a client signs, between files, folders and git revisions."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callpop.cli import cli
from tests.callpop.known_journeys import dialplan_repo, git

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialplan"
GROWN = ROOT / "tests" / "fixtures" / "grown"


def diff(*args: str) -> Result:
    return CliRunner().invoke(cli, ["diff", *args])


def edited_copy(tmp_path: Path, *edits: tuple[str, str], source: Path = SAMPLE) -> Path:
    """A copy of a dialplan folder with text replacements in flows/main.yaml."""
    folder = tmp_path / "new"
    shutil.copytree(source, folder)
    main = folder / "flows" / "main.yaml"
    text = main.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    main.write_text(text, encoding="utf-8")
    return folder


REKEY = (
    '"2": {goto: tech, topic: tech, label: Technical support}',
    '"5": {goto: tech, topic: tech, label: Technical support}',
)
PROMPT = (
    "For a question about\n          a charge on your bill",
    "For a charge you do not recognise",
)
HOLIDAY = ("      - 2027-12-24\n", "      - 2027-12-24\n      - 2027-12-31\n")
PRIORITY = ("    queue: accounts\n    priority: 3\n", "    queue: accounts\n    priority: 5\n")
LIMIT = (
    "\nsettings:\n",
    "\nlimits:\n  max_options:\n    value: 5\n    reason: The client wants five top-level choices.\nsettings:\n",
)
MOVE = (
    '      "3": {goto: business_desk, topic: sales, label: Business services}\n',
    "",
)
MOVE_TO = (
    '      "3": {goto: complaint_menu, topic: complaints, label: Complaints}\n',
    '      "3": {goto: complaint_menu, topic: complaints, label: Complaints}\n'
    '      "4": {goto: business_desk, topic: sales, label: Business services}\n',
)


def test_the_same_dialplan_twice_is_no_change_and_exit_0() -> None:
    result = diff(str(SAMPLE), str(SAMPLE))
    assert result.exit_code == 0, result.output
    assert result.stdout == "no changes\n"


def test_every_kind_of_change_a_client_signs_is_one_line(tmp_path: Path) -> None:
    new = edited_copy(tmp_path, REKEY, PROMPT, HOLIDAY, PRIORITY, LIMIT, MOVE, MOVE_TO)
    result = diff(str(SAMPLE), str(new))
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        "flow main",
        "  + limit max_options raised to 5 options per menu: The client wants five top-level choices.",
        "  hours (Business hours)",
        "    + holiday 2027-12-31 added (closed that day)",
        "  main_menu (Main menu)",
        '    ~ "Technical support" re-keyed: key 2 -> key 5',
        "  billing_menu (Billing and payments)",
        "    ~ prompt acme-billing-menu text changed",
        "        was: To make a payment or check your balance, press 1. For a question about a charge on "
        "your bill, press 2. To set up a payment arrangement, press 3. To go back to the main menu, press star.",
        "        now: To make a payment or check your balance, press 1. For a charge you do not recognise, "
        "press 2. To set up a payment arrangement, press 3. To go back to the main menu, press star.",
        "  account_menu (Account services)",
        '    ~ "Business services" moved from sales_menu key 3 to account_menu key 4',
        "  cancel_queue (Cancellations)",
        "    ~ priority: 3 -> 5",
        "6 changes: 2 added, 0 removed, 4 changed",
    ]


def test_a_key_that_now_leads_elsewhere_and_removed_options(tmp_path: Path) -> None:
    new = edited_copy(
        tmp_path,
        (
            '"2": {goto: sales_upgrade, topic: sales, label: Upgrade my plan}',
            '"2": {goto: sales_new, topic: sales}',
        ),
        ('      "2": {goto: complaint_followup, topic: complaints, label: Follow up}\n', ""),
    )
    lines = diff(str(SAMPLE), str(new)).stdout.splitlines()
    assert "    ~ key 2 now leads to sales_new (was sales_upgrade)" in lines
    assert '    ~ key 2 label: "Upgrade my plan" -> none' in lines
    assert '    - key 2 "Follow up" -> complaint_followup' in lines


def test_queues_file_changes_are_listed(tmp_path: Path) -> None:
    new = edited_copy(tmp_path)
    queues = new / "queues.yaml"
    queues.write_text(
        queues.read_text(encoding="utf-8").replace(
            "    strategy: fewestcalls\n", "    strategy: ringall\n"
        ),
        encoding="utf-8",
    )
    result = diff(str(SAMPLE), str(new))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:3] == [
        "queues",
        "  tech",
        '    ~ queue tech strategy: "fewestcalls" -> "ringall"',
    ]


def test_the_grown_6x9_flow_against_the_sample(tmp_path: Path) -> None:
    result = diff(str(SAMPLE / "flows" / "main.yaml"), str(GROWN / "flows" / "main.yaml"))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert (
        "  + limit max_depth raised to 6 menu levels: The client's roaming desk insists on "
        "region-level routing, signed 2026-11-02." in lines
    )
    assert "  menu6 (Roaming by region)" in lines
    assert "    + menu menu6 (Roaming by region) added" in lines
    assert '    + key 9 "Choice 6.9" -> desk6_9' in lines
    assert "    - menu main_menu (Main menu) removed" in lines


def test_a_limit_reason_edited_in_the_grown_flow(tmp_path: Path) -> None:
    new = edited_copy(
        tmp_path,
        (
            "    value: 9\n    reason: Nine product lines",
            "    value: 8\n    reason: Eight product lines",
        ),
        source=GROWN,
    )
    lines = diff(str(GROWN), str(new)).stdout.splitlines()
    assert lines[1] == (
        "  ~ limit max_options 9 -> 8 options per menu; reason now: Eight product lines each with their "
        "own team; folding them was refused by the client."
    )


def test_git_revisions_rev_path_and_bare_rev(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = dialplan_repo(tmp_path, SAMPLE)
    main = repo / "dialplan" / "flows" / "main.yaml"
    main.write_text(main.read_text(encoding="utf-8").replace(*PRIORITY), encoding="utf-8")
    monkeypatch.chdir(repo)
    bare = diff("HEAD", "dialplan")
    assert bare.exit_code == 1, bare.output
    assert "    ~ priority: 3 -> 5" in bare.stdout.splitlines()
    assert diff("HEAD:dialplan", "dialplan").stdout == bare.stdout
    git(repo, "commit", "-q", "-am", "priority 5")
    assert (
        diff("HEAD~1:dialplan/flows/main.yaml", "HEAD:dialplan/flows/main.yaml").stdout
        == bare.stdout
    )
    assert diff("HEAD", "dialplan").exit_code == 0
    missing = diff("HEAD~1:nowhere", "dialplan")
    assert missing.exit_code == 2
    assert "HEAD~1:nowhere: nowhere does not exist at HEAD~1" in missing.stderr


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.classes: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.classes.append(dict(attrs).get("class") or "")
        if tag == "script":
            self.scripts += 1


def test_html_shows_each_change_as_a_row_and_escapes_flow_text(tmp_path: Path) -> None:
    new = edited_copy(
        tmp_path,
        REKEY,
        HOLIDAY,
        ("text: Connecting you to our sales team.", "text: <script>x</script>"),
    )
    out = tmp_path / "changes.html"
    result = diff(str(SAMPLE), str(new), "--html", "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr == f"{out}: 3 changes: 1 added, 0 removed, 2 changed\n"
    page = out.read_text(encoding="utf-8")
    rows = _Rows()
    rows.feed(page)
    assert rows.classes.count("added") == 1
    assert rows.classes.count("rekeyed") == 1
    assert rows.classes.count("changed") == 1
    assert rows.scripts == 0
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "&#34;Technical support&#34; re-keyed: key 2 -&gt; key 5" in page


def test_format_html_on_stdout_equals_the_flag() -> None:
    assert (
        diff(str(SAMPLE), str(SAMPLE), "--format", "html").stdout
        == diff(str(SAMPLE), str(SAMPLE), "--html").stdout
    )


def test_a_version_that_does_not_load_exits_2_with_its_position(tmp_path: Path) -> None:
    new = edited_copy(tmp_path, ("    priority: 3\n", "    priority: high\n"))
    result = diff(str(SAMPLE), str(new))
    assert result.exit_code == 2
    assert f"{new}/flows/main.yaml:" in result.stderr
    assert "priority" in result.stderr


def test_bad_usage_exits_2() -> None:
    assert diff(str(SAMPLE)).exit_code == 2
    assert diff(str(SAMPLE), str(SAMPLE), "--format", "pdf").exit_code == 2
    assert diff(str(SAMPLE), str(tmp := SAMPLE / "nowhere")).exit_code == 2, tmp


def test_a_file_against_a_folder_is_trouble() -> None:
    result = diff(str(SAMPLE / "flows" / "main.yaml"), str(SAMPLE))
    assert result.exit_code == 2
    assert "is one flow file and" in result.stderr


def test_options_shown_on_a_condition_and_a_menu_s_own_limit(tmp_path: Path) -> None:
    new = edited_copy(
        tmp_path,
        (
            '      "3": {goto: complaint_menu, topic: complaints, label: Complaints}\n',
            '      "3": {goto: complaint_menu, topic: complaints, label: Complaints}\n'
            '      "4": {goto: complaint_followup, label: Your complaint, when: customer.open_cases > 0}\n'
            "    limits:\n      max_options:\n        value: 5\n        reason: Callers with an open case get a fifth choice.\n",
        ),
        ("label: Follow up}", "label: Follow up, when: customer.open_cases > 0}"),
    )
    lines = diff(str(SAMPLE), str(new)).stdout.splitlines()
    assert lines[1:6] == [
        "  account_menu (Account services)",
        '    + key 4 "Your complaint" -> complaint_followup (only when customer.open_cases > 0)',
        "    + limit max_options of this menu raised to 5 options per menu: "
        "Callers with an open case get a fifth choice.",
        "  complaint_menu (Complaints)",
        "    ~ key 2 now offered only when customer.open_cases > 0",
    ]


def test_survey_changes_a_client_signs_are_listed(tmp_path: Path) -> None:
    new = edited_copy(
        tmp_path,
        (
            "text: How likely are you to recommend Acme Telecom to a friend?",
            "text: Would you recommend us?",
        ),
        ("    max_invalid: 2\n    max_timeouts: 2\n", "    max_invalid: 3\n    max_timeouts: 2\n"),
        (
            "      - id: courtesy\n        label: Courtesy\n",
            "      - id: speed\n        label: Speed\n",
        ),
        ("    survey: after_call      # heard once the agent hangs up (docs/dialplan.md)\n", ""),
    )
    result = diff(str(SAMPLE), str(new))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert "  ~ survey after call question recommend prompt acme-survey-recommend text changed" in (
        lines
    )
    assert "  - survey after_call question courtesy removed" in lines
    assert "  + survey after_call question speed added" in lines
    assert "  ~ survey after_call max_invalid: 2 -> 3" in lines
    assert '    ~ survey: "after_call" -> none' in lines
