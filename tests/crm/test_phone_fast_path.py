"""Caller ID already in E.164 form (`+` and digits) is read without `phonenumbers.parse`
(crm_adapter/phone.py, `_international`): the answer must be the parse's, number for
number, or the fast path must hand the number to the parse."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crm_adapter.phone import _PARSE, PhoneNormaliser, _international

COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def parsed(digits: str) -> str | None:
    """The full rule: what the normaliser answered for `+digits` before the fast path."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def agrees(digits: str) -> bool:
    fast = _international(digits)
    return fast == _PARSE or fast == parsed(digits)


def test_every_country_code_at_every_length_agrees_with_the_parse() -> None:
    draw = random.Random(20240611)
    for code in COUNTRY_CODES:
        for length in range(0, 19):
            for _ in range(6):
                national = "".join(draw.choice("0123456789") for _ in range(length))
                digits = f"{code}{national}"
                assert agrees(digits), (digits, _international(digits), parsed(digits))


@settings(max_examples=2000)
@given(st.sampled_from(COUNTRY_CODES), st.text("0123456789", max_size=18))
@example(44, "02079460958")  # a national prefix after the country code: the parse drops it
@example(39, "0612345678")  # Italy keeps its leading zero
@example(1, "5551234567")
def test_numbers_after_a_country_code_agree_with_the_parse(code: int, national: str) -> None:
    assert agrees(f"{code}{national}")


@settings(max_examples=1000)
@given(st.text("0123456789", min_size=1, max_size=20))
def test_any_digits_agree_with_the_parse(digits: str) -> None:
    assert agrees(digits)


@pytest.mark.parametrize(
    "e164",
    [
        "+15551234567",
        "+442079460958",
        "+447700900123",
        "+33612345678",
        "+4930123456",
        "+61412345678",
    ],
)
def test_common_numbers_take_the_fast_path_and_stay_as_they_are(e164: str) -> None:
    assert _international(e164[1:]) == e164
    assert PhoneNormaliser("US", memo_size=0).normalise(e164) == e164


def test_impossible_lengths_are_none_without_the_parse() -> None:
    assert _international("1555123") is None
    assert _international("0155512345") is None  # no country code starts with 0
    assert _international("9991234567") is None  # 999 is nobody's country code
