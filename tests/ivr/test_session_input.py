"""Inputs: collecting digits, validation, confirmation, sensitive entries."""

from __future__ import annotations

from typing import Any

import pytest

from ivr.actions import Collect, SayDigits, Sound
from ivr.entries import luhn_valid

from .session_driver import Driver, make_flow, queue

CONFIRM = {"prompts": [{"sound": "you-entered"}, {"digits": "{digits}"}, {"sound": "press-1-or-2"}]}


def account(**fields: Any) -> Driver:
    node = {
        "type": "input",
        "prompts": ["enter-account"],
        "variable": "account",
        "min_digits": 4,
        "max_digits": 8,
        "next": "check",
        **fields,
    }
    flow = make_flow(
        {
            "account": node,
            "check": {
                "type": "lookup",
                "by": "account",
                "variable": "account",
                "found": "q",
                "not_found": "q",
            },
            "q": queue("accounts"),
        }
    )
    driver = Driver(flow)
    driver.start()
    return driver


def test_an_input_collects_as_the_node_says() -> None:
    driver = account(timeout="8s", interdigit_timeout="2s", terminator="*")
    assert driver.collect == Collect(
        prompts=(Sound("enter-account"),),
        max_digits=8,
        min_digits=4,
        timeout_ms=8000,
        interdigit_ms=2000,
        terminator="*",
    )


def test_the_entry_is_stored_in_the_variable() -> None:
    driver = account()
    driver.keys("123456")
    assert (driver.lookup.by, driver.lookup.value) == ("account", "123456")


def test_a_short_entry_is_invalid() -> None:
    driver = account()
    driver.keys("12")
    assert driver.sounds == ["pm-invalid-option", "enter-account"]
    assert driver.journey.steps[-1].invalid == 1


def test_the_terminator_alone_is_an_empty_invalid_entry() -> None:
    driver = account()
    driver.terminator()
    assert driver.journey.steps[-1].invalid == 1
    assert driver.journey.steps[-1].keys == ["#"]


def test_a_partial_entry_at_the_timeout_is_judged_as_an_entry() -> None:
    driver = account()
    driver.silence("123456")
    assert driver.lookup.value == "123456"


def test_silence_counts_as_a_timeout() -> None:
    driver = account(timeout_prompts=["still-there"])
    driver.silence()
    assert driver.sounds == ["still-there", "enter-account"]
    assert driver.journey.steps[-1].timeouts == 1


def test_invalid_prompts_of_the_node_are_used() -> None:
    driver = account(invalid_prompts=["bad-account"])
    driver.keys("1")
    assert driver.sounds == ["bad-account", "enter-account"]


def test_invalid_entries_past_the_limit_go_to_on_failure() -> None:
    driver = account(max_invalid=2, on_failure="q")
    driver.keys("1")
    driver.keys("2")
    assert driver.transfer.target == "accounts"
    assert driver.reason == "max-invalid"


def test_star_is_refused_without_a_pattern_allowing_it() -> None:
    driver = account()
    driver.keys("12*34")
    assert driver.journey.steps[-1].invalid == 1


def test_a_pattern_must_match_the_whole_entry() -> None:
    driver = account(validate={"pattern": "[1-9][0-9]{5}"})
    driver.keys("0123456")
    assert driver.journey.steps[-1].invalid == 1
    driver.keys("123456")
    assert driver.lookup.value == "123456"


def test_a_pattern_may_allow_star() -> None:
    driver = account(validate={"pattern": "[0-9]+\\*[0-9]+"})
    driver.keys("12*34")
    assert driver.lookup.value == "12*34"


def test_luhn_validation() -> None:
    driver = account(max_digits=16, validate={"luhn": True})
    driver.keys("79927398710")
    assert driver.journey.steps[-1].invalid == 1
    driver.keys("79927398713")
    assert driver.lookup.value == "79927398713"


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("79927398713", True),
        ("4539578763621486", True),
        ("4539578763621487", False),
        ("0", True),
        ("", False),
        ("12a4", False),
    ],
)
def test_luhn_check(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


def test_value_range_validation() -> None:
    driver = account(min_digits=1, max_digits=4, validate={"min_value": 10, "max_value": 500})
    driver.keys("9")
    driver.keys("501")
    assert driver.journey.steps[-1].invalid == 2
    driver.keys("0500")
    assert driver.lookup.value == "0500"


def test_confirmation_reads_the_entry_back() -> None:
    driver = account(confirm=CONFIRM)
    driver.keys("123456")
    assert driver.collect == Collect(
        prompts=(Sound("you-entered"), SayDigits("123456"), Sound("press-1-or-2")),
        max_digits=1,
        timeout_ms=5000,
        interdigit_ms=3000,
    )


def test_yes_stores_the_entry() -> None:
    driver = account(confirm=CONFIRM)
    driver.keys("123456")
    driver.keys("1")
    assert driver.lookup.value == "123456"


def test_no_asks_for_the_entry_again_from_the_top() -> None:
    driver = account(confirm=CONFIRM)
    driver.keys("123456")
    driver.keys("2")
    assert driver.sounds == ["enter-account"]
    driver.keys("654321")
    driver.keys("1")
    assert driver.lookup.value == "654321"


def test_no_counts_toward_the_invalid_limit() -> None:
    driver = account(confirm=CONFIRM, max_invalid=2)
    driver.keys("123456")
    driver.keys("2")
    driver.keys("123456")
    driver.keys("2")
    assert driver.transfer.target == "operator"
    assert driver.reason == "max-invalid"


def test_another_key_at_the_confirmation_asks_again() -> None:
    driver = account(confirm=CONFIRM)
    driver.keys("123456")
    driver.keys("7")
    assert driver.sounds == [
        "pm-invalid-option",
        "you-entered",
        "SayDigits(digits='123456')",
        "press-1-or-2",
    ]


def test_silence_at_the_confirmation_asks_again() -> None:
    driver = account(confirm=CONFIRM, timeout_prompts=["still-there"])
    driver.keys("123456")
    driver.silence()
    assert driver.sounds[0] == "still-there"
    assert driver.journey.steps[-1].timeouts == 1


def test_custom_confirmation_keys() -> None:
    driver = account(confirm={**CONFIRM, "yes": "9", "no": "8"})
    driver.keys("123456")
    driver.keys("9")
    assert driver.lookup.value == "123456"


def test_a_sensitive_entry_is_masked_in_the_journey() -> None:
    driver = account(sensitive=True, max_digits=16)
    driver.keys("4539578763621486")
    assert driver.journey.steps[0].keys == ["**************86"]


def test_a_short_sensitive_entry_shows_nothing() -> None:
    driver = account(sensitive=True)
    driver.keys("1234")
    assert driver.journey.steps[0].keys == ["****"]


def test_a_sensitive_entry_is_read_back_to_the_caller_only() -> None:
    driver = account(sensitive=True, confirm=CONFIRM)
    driver.keys("98765432")
    # Whole to the caller's ear, marked so that traces and logs show it masked.
    said = SayDigits("98765432", sensitive=True)
    assert said in driver.collect.prompts
    assert "98765432" not in repr(driver.collect)
    assert driver.journey.steps[-1].keys == ["******32"]


def test_a_sensitive_entry_is_in_no_published_variable() -> None:
    driver = account(sensitive=True)
    driver.keys("98765432")
    assert driver.lookup.value == "98765432"  # the CRM may see it, to check it
    assert driver.lookup.shown == "******32" and "98765432" not in repr(driver.lookup)
    driver.not_found()
    published = " ".join(driver.variables.values()) + repr(driver.journey.to_dict())
    assert "98765432" not in published
