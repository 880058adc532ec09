"""Prompt templates: placeholders filled from the call, hostile values kept out."""

from __future__ import annotations

import pytest

from ivr.actions import SayDigits, SayNumber, Sound
from ivr.callflow import Prompt
from ivr.templates import Value, fill, placeholders, resolve

VALUES: dict[str, Value] = {
    "vars.account": "00123",
    "customer.open_cases": 3,
    "customer.balance": 12.6,
    "customer.vip": True,
    "caller.number": "+1 (555) 010-9999",
    "caller.name": "'; DROP TABLE --",
}


def value(name: str) -> Value:
    return VALUES.get(name)


def test_placeholders_lists_the_names_in_order() -> None:
    assert placeholders("{vars.a}-{customer.b}{digits}") == ["vars.a", "customer.b", "digits"]


def test_fill_keeps_text_and_empties_unknown_names() -> None:
    assert fill("1{vars.account}/{vars.nope}", value) == "100123/"


def test_flags_read_as_1_or_0() -> None:
    assert fill("{customer.vip}", value) == "1"


def test_a_sound_passes_through_with_its_text() -> None:
    prompt = Prompt(sound="hello", text="Hello")
    assert resolve([prompt], value) == (Sound("hello", "Hello"),)


def test_digits_keep_only_0_to_9() -> None:
    assert resolve([Prompt(digits="{caller.number}")], value) == (SayDigits("15550109999"),)


def test_digits_of_nothing_are_left_out() -> None:
    assert resolve([Prompt(digits="{caller.name}")], value) == ()


def test_a_number_is_said_as_a_number() -> None:
    assert resolve([Prompt(number="{customer.open_cases}")], value) == (SayNumber(3),)


def test_a_decimal_is_rounded() -> None:
    assert resolve([Prompt(number="{customer.balance}")], value) == (SayNumber(13),)


@pytest.mark.parametrize("template", ["{caller.name}", "{vars.nope}", "1e400", "99999999999999"])
def test_what_is_not_a_sayable_number_is_left_out(template: str) -> None:
    assert resolve([Prompt(number=template)], value) == ()
