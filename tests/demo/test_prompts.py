"""The test phone shows each prompt's text from the flows, and plays it for as long as
its words take to say."""

from __future__ import annotations

from pathlib import Path

from callpop.demo.prompts import PromptBook, spoken_digits
from ivr.loader import load_dialplan

DIALPLAN = load_dialplan(Path(__file__).resolve().parents[2] / "dialplan")


def test_every_prompt_of_the_sample_dialplan_has_its_text() -> None:
    book = PromptBook.from_flows(DIALPLAN.flows.values())
    assert book.text("acme-main-menu").startswith("For billing and payments, press 1.")
    assert book.text("pm-invalid-option") == "You have entered an invalid option."  # settings
    assert book.text("acme-confirm-entry").startswith("If this is correct, press 1.")  # confirm


def test_the_estimated_wait_s_units_are_shown_as_said() -> None:
    book = PromptBook.from_flows(DIALPLAN.flows.values())
    assert (book.text("queue-less-than"), book.text("queue-minute")) == ("less than", "minute")
    assert book.text("queue-minutes") == "minutes"


def test_a_sound_no_flow_describes_is_shown_by_its_name() -> None:
    assert PromptBook({}).text("beep") == "[beep]"


def test_a_prompt_lasts_longer_the_more_it_says_and_the_pace_scales_it() -> None:
    book = PromptBook({"short": "Hello.", "long": "For billing and payments, press 1."})
    assert book.samples("short") < book.samples("long")
    fast = PromptBook(book.texts, pace=0.5)
    assert fast.samples("long") == book.samples("long") // 2


def test_digits_are_said_one_by_one() -> None:
    assert spoken_digits("3001") == "3 0 0 1"
