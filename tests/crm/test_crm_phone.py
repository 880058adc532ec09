"""Phone numbers to E.164 (design.md, "Phone numbers")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_adapter.phone import PhoneNormaliser

US = PhoneNormaliser("US", ["011", "00"])


@pytest.mark.parametrize(
    "spelling",
    [
        "+15551234567",
        "15551234567",
        "5551234567",
        "0015551234567",
        "(555) 123-4567",
        "011 1 555 123 4567",
        "555.123.4567",
        " +1 (555) 123-4567 ",
    ],
)
def test_the_spellings_of_one_number_are_one_number(spelling: str) -> None:
    assert US.normalise(spelling) == "+15551234567"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "anonymous",
        "Unknown",
        "restricted",
        "123",
        "1-800-FLOWERS",
        "+1555123456789012",
        "5" * 70,
        "+",
        "00",
        "555\x001234567",
        "５５５１２３４５６７",
    ],
)
def test_what_is_not_a_possible_number_is_none(text: str) -> None:
    assert US.normalise(text) is None


def test_the_default_region_reads_national_numbers() -> None:
    uk = PhoneNormaliser("GB", ["00"])
    assert uk.normalise("020 7946 0958") == "+442079460958"
    assert uk.normalise("0044 20 7946 0958") == "+442079460958"
    assert uk.normalise("+1 555 123 4567") == "+15551234567"


def test_an_unknown_region_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="unknown phone region 'XX'"):
        PhoneNormaliser("XX")


@given(st.text(max_size=40))
def test_normalising_is_idempotent_and_never_raises(text: str) -> None:
    once = US.normalise(text)
    if once is not None:
        assert once.startswith("+") and once[1:].isdigit()
        assert US.normalise(once) == once


spellings = st.one_of(
    st.text(max_size=20),
    st.from_regex(r"\A\+?(00|011)?[0-9 ()-]{3,18}\Z"),
    st.sampled_from(["+15551234567", "5551234567", "0015551234567", "+442079460958"]),
)


@given(st.lists(spellings, max_size=30))
def test_remembered_answers_are_the_answers_parsing_gives(texts: list[str]) -> None:
    # A memo of two entries forgets and re-learns all the time; none at all parses each.
    remembering = PhoneNormaliser("US", ["011", "00"], memo_size=2)
    parsing = PhoneNormaliser("US", ["011", "00"], memo_size=0)
    for text in texts + texts[::-1]:
        assert remembering.normalise(text) == parsing.normalise(text)
