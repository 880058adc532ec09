"""`callpop doc`: the sign-off pack a client reads and signs, as HTML and as PDF."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from callpop.cli import cli
from ivr.loader import load_dialplan
from ivr.version import hash_dialplan

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dialplan"
GROWN = ROOT / "tests" / "fixtures" / "grown"


def doc(*args: str) -> Result:
    return CliRunner().invoke(cli, ["doc", *args])


def pack(tmp_path: Path, dialplan: Path, *args: str) -> str:
    out = tmp_path / "pack.html"
    result = doc(str(dialplan), "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def text_of(page: str) -> str:
    """The page's visible words, tags dropped and entities decoded, spaces collapsed."""
    no_svg = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", no_svg)))


def test_every_prompt_of_the_sample_is_in_the_pack_with_its_sound_name(tmp_path: Path) -> None:
    page = pack(tmp_path, SAMPLE, "--client", "Acme Telecom")
    words = text_of(page)
    for flow in load_dialplan(SAMPLE).flows.values():
        for node in flow.nodes.values():
            for prompt in getattr(node, "prompts", ()):
                if prompt.sound is not None:
                    assert prompt.sound in words
                    spoken = " ".join((prompt.text or "").split())
                    assert f"“{spoken}”" in words


def test_the_pack_names_its_version_hours_holidays_queues_and_limits(tmp_path: Path) -> None:
    words = text_of(pack(tmp_path, SAMPLE, "--client", "Acme Telecom"))
    assert f"Dialplan version {hash_dialplan(SAMPLE)} (content hash of {SAMPLE} )" in words
    assert (
        "Time zone America/New_York mon-fri 08:00-20:00 sat 09:00-17:00 Other days closed" in words
    )
    assert "Holidays (closed) 2026-11-26, 2026-12-25, 2027-01-01" in words
    assert "routed before any menu. leastrecent 2 20s no limit Premier team (priority 10)" in words
    assert "Complaint follow-up (priority 6)" in words
    assert "main menu levels 4 the 4x4 rule's default" in words
    assert (
        "For Acme Telecom Prepared by Name Name Title Title Date Date Signature Signature" in words
    )


def test_keys_and_seconds_to_reach_each_destination_come_from_the_simulator(tmp_path: Path) -> None:
    words = text_of(pack(tmp_path, SAMPLE))
    assert (
        "Billing team main:billing_queue queue billing priority 1 billing 1 2 Main menu › Billing and payments 36.8 open, caller unknown"
        in words
    )
    assert (
        "Premier team main:vip_team queue vip priority 10 none: routed by the CRM, hours or a branch 6.2 open, vip caller"
        in words
    )
    assert (
        "Callback message main:callback_voicemail voicemail 8000@acme 1 After hours 24.4 closed, caller unknown"
        in words
    )
    assert "Internet down tech:internet_down queue tech priority 3 internet 2 1 1" in words


def test_the_grown_6x9_pack_shows_raised_limits_with_their_reasons_and_the_deepest_desk(
    tmp_path: Path,
) -> None:
    page = pack(tmp_path, GROWN)
    words = text_of(page)
    assert (
        "main menu levels 6 The client's roaming desk insists on region-level routing, signed 2026-11-02."
        in words
    )
    assert "main options per menu 9 Nine product lines each with their own team" in words
    assert page.count('class="raised"') == 2
    assert "Desk 6.9 main:desk6_9 queue billing priority 5 moving 1 1 1 1 1 9" in words
    assert words.count(" Desk ") >= 49  # every desk of the 6 levels is a destination


def test_against_the_last_signed_version_adds_the_changes(tmp_path: Path) -> None:
    signed = tmp_path / "signed"
    shutil.copytree(SAMPLE, signed)
    main = signed / "flows" / "main.yaml"
    main.write_text(
        main.read_text(encoding="utf-8").replace("priority: 6", "priority: 5"), encoding="utf-8"
    )
    words = text_of(pack(tmp_path, SAMPLE, "--against", str(signed)))
    assert f"Compared with {signed} : 1 change: 0 added, 0 removed, 1 changed" in words
    assert "complaint_followup (Complaint follow-up) ~ priority: 5 -> 6 5 6" in words


def test_flow_text_cannot_become_markup(tmp_path: Path) -> None:
    hostile = tmp_path / "dialplan"
    shutil.copytree(SAMPLE, hostile)
    main = hostile / "flows" / "main.yaml"
    main.write_text(
        main.read_text(encoding="utf-8").replace(
            "text: Hello.", 'text: "<script>alert(1)</script>"'
        ),
        encoding="utf-8",
    )
    page = pack(tmp_path, hostile)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_dialplan_that_does_not_load_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    broken = tmp_path / "dialplan"
    shutil.copytree(SAMPLE, broken)
    (broken / "flows" / "main.yaml").write_text("entry: [\n", encoding="utf-8")
    out = tmp_path / "pack.html"
    result = doc(str(broken), "-o", str(out))
    assert result.exit_code == 1
    assert f"{broken}/flows/main.yaml:" in result.stderr
    assert not out.exists()


@pytest.mark.browser
def test_pdf_through_headless_chromium(tmp_path: Path) -> None:
    out = tmp_path / "pack.pdf"
    result = doc(str(SAMPLE), "-o", str(out), "--client", "Acme Telecom")
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 8
    assert f"{out}: PDF sign-off pack of {SAMPLE} version {hash_dialplan(SAMPLE)}" in result.stderr


def test_pdf_with_a_chromium_that_is_not_there_says_so(tmp_path: Path) -> None:
    result = doc(
        str(SAMPLE), "-o", str(tmp_path / "p.pdf"), "--chromium", str(tmp_path / "no-chromium")
    )
    assert result.exit_code == 1
    assert f"--pdf needs Chromium at {tmp_path / 'no-chromium'}" in result.output


def test_a_conditional_option_and_a_menu_s_own_limit_are_in_the_pack(tmp_path: Path) -> None:
    site = tmp_path / "dialplan"
    shutil.copytree(SAMPLE, site)
    main = site / "flows" / "main.yaml"
    main.write_text(
        main.read_text(encoding="utf-8").replace(
            '      "3": {goto: complaint_menu, topic: complaints, label: Complaints}\n',
            '      "3": {goto: complaint_menu, topic: complaints, label: Complaints}\n'
            '      "4": {goto: complaint_followup, label: Your complaint, when: customer.open_cases > 0}\n'
            "    limits:\n      max_options:\n        value: 5\n        reason: Callers with an open case get a fifth choice.\n",
            1,
        ),
        encoding="utf-8",
    )
    words = text_of(pack(tmp_path, site))
    assert "4 Your complaint → complaint_followup only when customer.open_cases > 0" in words
    assert (
        "main options in Account services (this menu only) 5 Callers with an open case get a fifth choice."
        in words
    )
    assert (
        "Complaint follow-up main:complaint_followup queue complaints priority 6 complaints 4 4"
        in words
    )
    assert "open, caller known, with an open case" in words


def test_the_pack_shows_each_post_call_survey_as_the_caller_hears_it(tmp_path: Path) -> None:
    words = text_of(pack(tmp_path, SAMPLE))
    assert "then survey after_call, once the agent hangs up" in words
    assert "Post-call survey After-call survey after_call" in words
    survey = load_dialplan(SAMPLE).flows["main"].surveys["after_call"]
    for question in survey.questions:
        for prompt in question.prompts:
            assert f"{prompt.sound} “{' '.join((prompt.text or '').split())}”" in words
    assert "Question 2: Courtesy" in words
    assert "A key other than 1 to 5 acme-survey-keys “Please press a key from 1 to 5.”" in words
    assert "a caller has 6s to answer, 2 wrong keys and 2 silences per question" in words
