"""The branch condition language: what parses, what it means, and how it fails."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.conditions import ConditionError, Context, parse

CONTEXT: Context = {
    "vars": {"account": "0042", "amount": "150", "choice": "1", "empty": ""},
    "customer": {"found": True, "tier": "vip", "open_cases": 2, "name": "Ana O'Neil"},
    "caller": {"number": "+442071234567", "name": "ANA"},
    "call": {"dnis": "7000", "id": "1700000000.1", "flow": "main"},
}


def holds(source: str, context: Context = CONTEXT) -> bool:
    return parse(source).evaluate(context)


@pytest.mark.parametrize(
    "source",
    [
        'customer.tier == "vip"',
        "customer.tier == 'vip'",
        "customer.open_cases >= 2",
        "customer.open_cases != 3",
        "customer.found",
        "customer.found == true",
        'caller.number startswith "+44"',
        'caller.number endswith "567"',
        'call.dnis == "7000"',
        'call.flow == "main"',
        'customer.tier in ["vip", "gold"]',
        'customer.tier not in ["standard"]',
        '"Neil" in customer.name',
        'vars.account matches "[0-9]{4}"',
        'customer.tier == "vip" and customer.open_cases > 0',
        'customer.tier == "gold" or customer.open_cases > 0',
        'not (customer.tier == "gold")',
        'customer.name == "Ana O\\\'Neil"',
    ],
)
def test_true_conditions(source: str) -> None:
    assert holds(source)


@pytest.mark.parametrize(
    "source",
    [
        'customer.tier == "gold"',
        "customer.open_cases < 2",
        'caller.number startswith "+1"',
        'customer.tier in ["gold", "silver"]',
        'vars.account matches "[0-9]{3}"',
        "not customer.found",
        "vars.empty",
        'customer.tier == "vip" and customer.open_cases > 5',
    ],
)
def test_false_conditions(source: str) -> None:
    assert not holds(source)


def test_a_digit_string_compared_with_a_number_is_a_number() -> None:
    assert holds("vars.choice == 1")
    assert holds("vars.account == 42")
    assert holds("vars.amount > 100")


def test_two_strings_are_equal_only_as_text() -> None:
    assert not holds('vars.account == "42"')
    assert holds('vars.account == "0042"')


def test_two_digit_strings_are_ordered_as_numbers() -> None:
    assert holds('vars.amount > "20"')


def test_non_numeric_strings_are_ordered_as_text() -> None:
    assert holds('customer.tier > "gold"')


def test_a_huge_digit_string_compares_as_text() -> None:
    context: Context = {"customer": {"ref": "9" * 5000}}
    assert parse("customer.ref > 5").evaluate(context) is False
    assert parse('customer.ref > "5"').evaluate(context) is True


def test_true_is_not_one() -> None:
    assert not holds("customer.found == 1")
    assert not holds("customer.found > 0")


def test_missing_names_are_null_and_never_fail() -> None:
    assert holds("vars.never_set == null")
    assert holds("customer.missing == null")
    assert not holds("vars.never_set > 3")
    assert not holds("vars.never_set < 3")
    assert not holds('vars.never_set startswith ""')
    assert not holds('vars.never_set matches ".*"')
    assert not holds('"a" in vars.never_set')
    assert holds("vars.never_set not in [1, 2]")


def test_an_empty_context_evaluates_every_name_to_null() -> None:
    condition = parse('customer.tier == "vip" or caller.number == null')
    assert condition.evaluate({})


def test_null_equals_only_null() -> None:
    assert holds("null == null")
    assert not holds("vars.empty == null")
    assert not holds("0 == null")


def test_and_binds_tighter_than_or() -> None:
    assert holds("true or false and false")
    assert not holds("(true or false) and false")


def test_not_binds_tighter_than_and() -> None:
    assert not holds("not true and false")
    assert holds("not (true and false)")


def test_matches_needs_the_whole_text() -> None:
    assert not holds('caller.number matches "44"')
    assert holds('caller.number matches "\\\\+44.*"')


def test_a_number_is_matched_by_its_digits() -> None:
    assert holds('customer.open_cases matches "[0-9]"')


def test_decimals_and_negative_numbers() -> None:
    assert holds("2.5 > 2 and -3 < 0")


def test_names_lists_what_the_condition_reads() -> None:
    condition = parse('customer.tier == "vip" and vars.account != null or customer.tier == 1')
    assert condition.names == frozenset({"customer.tier", "vars.account"})


@pytest.mark.parametrize(
    ("source", "offset", "words"),
    [
        ("", 0, "empty"),
        ("customer.tier ==", 16, "expected a value"),
        ("foo == 1", 0, "unknown name 'foo'"),
        ("caller.phone == 1", 0, "caller.number, caller.name"),
        ("call.when == 1", 0, "call.dnis"),
        ("customer.address.city == 1", 0, "one level deep"),
        ('customer.tier = "vip"', 14, "=="),
        ("true && false", 5, "and"),
        ("true || false", 5, "or"),
        ("!customer.found", 0, "not"),
        ("1 < vars.x < 3", 11, "do not chain"),
        ('"vip', 0, "not closed"),
        ('"a\\q"', 2, "unknown escape"),
        ("(true", 5, ")"),
        ("[1, vars.x]", 4, "only strings"),
        ("[1 2]", 3, "`,` or `]`"),
        ("vars.x matches vars.y", 15, "in quotes"),
        ('vars.x matches "("', 15, "bad regular expression"),
        ("vars.x not 3", 7, "expected `in`"),
        ("vars.x @ 3", 7, "unexpected character"),
        ("true false", 5, "unexpected `false`"),
    ],
)
def test_errors_say_what_and_where(source: str, offset: int, words: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse(source)
    assert caught.value.offset == offset
    assert words in str(caught.value)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(ConditionError, match="nested"):
        parse("(" * 200 + "true" + ")" * 200)
    with pytest.raises(ConditionError, match="nested"):
        parse("not " * 200 + "true")


def test_an_overlong_condition_is_refused() -> None:
    with pytest.raises(ConditionError, match="at most"):
        parse("true or " * 1000 + "true")


_ALPHABET = st.sampled_from(
    [
        *"abcnotrulvs.()[]\"',=!<>&|-0123456789 \\#@\n",
        *("vars.x", "customer.tier", "caller.number", " and ", " or ", " not ", " in "),
        *(" matches ", " startswith ", "null", "true", "==", '"vip"', "[1, 2]"),
    ]
)


@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_parse_either_returns_or_raises_condition_error(source: str) -> None:
    try:
        condition = parse(source)
    except ConditionError as exc:
        assert 0 <= exc.offset <= len(source)
    else:
        assert isinstance(condition.evaluate(CONTEXT), bool)
        assert isinstance(condition.evaluate({}), bool)


@given(st.text(max_size=80))
def test_parse_of_any_text_returns_or_raises_condition_error(source: str) -> None:
    try:
        parse(source)
    except ConditionError as exc:
        assert 0 <= exc.offset <= len(source)


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=5),
    st.from_regex(r"-?[0-9]{1,3}", fullmatch=True),
)


@given(
    st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in", "startswith", "endswith"]),
    _SCALARS,
    _SCALARS,
)
def test_evaluation_never_raises_whatever_the_values(op: str, left: object, right: object) -> None:
    context: Context = {"vars": {"a": left, "b": right}}  # type: ignore[dict-item]
    assert isinstance(parse(f"vars.a {op} vars.b").evaluate(context), bool)
