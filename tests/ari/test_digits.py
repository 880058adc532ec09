"""Digit collection with app-side timers: the rules of `Collect`, as GET DATA keeps them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ivr.actions import Collect
from ivr.ari.digits import Collected, DigitCollector


def collector(max_digits: int = 4, terminator: str | None = "#") -> DigitCollector:
    return DigitCollector(
        Collect(
            prompts=(),
            max_digits=max_digits,
            timeout_ms=5000,
            interdigit_ms=3000,
            terminator=terminator,
        )
    )


def test_input_ends_at_max_digits() -> None:
    c = collector(max_digits=3)
    c.arm(0)
    for t, k in [(100, "1"), (200, "2"), (300, "3")]:
        c.key(k, t)
    assert c.result == Collected("123", timed_out=False, at_ms=300)


def test_the_terminator_ends_input_and_is_dropped() -> None:
    c = collector()
    c.arm(0)
    c.key("4", 10)
    c.key("2", 20)
    c.key("#", 30)
    assert c.result == Collected("42", timed_out=False, at_ms=30)


def test_the_terminator_alone_is_an_empty_entry_not_silence() -> None:
    c = collector()
    c.arm(0)
    c.key("#", 10)
    assert c.result == Collected("", timed_out=False, at_ms=10)


def test_without_terminator_hash_is_an_answer_like_any_key() -> None:
    c = collector(max_digits=1, terminator=None)
    c.arm(0)
    c.key("#", 10)
    assert c.result == Collected("#", timed_out=False, at_ms=10)


def test_star_is_a_digit() -> None:
    c = collector(max_digits=2)
    c.arm(0)
    c.key("*", 10)
    c.key("9", 20)
    assert c.result is not None and c.result.digits == "*9"


def test_silence_times_out_after_the_first_digit_timeout() -> None:
    c = collector()
    c.arm(1000)
    assert c.deadline == 6000
    c.expire(5999)
    assert c.result is None
    c.expire(6000)
    assert c.result == Collected("", timed_out=True, at_ms=6000)


def test_a_partial_entry_times_out_after_the_interdigit_timeout() -> None:
    c = collector()
    c.arm(0)
    c.key("7", 1000)
    assert c.deadline == 4000
    c.expire(4000)
    assert c.result == Collected("7", timed_out=True, at_ms=4000)


def test_no_timer_runs_while_the_prompts_play() -> None:
    assert collector().deadline is None


def test_a_key_during_the_prompts_is_the_first_digit_and_starts_the_interdigit_timer() -> None:
    c = collector()
    c.key("5", 500)  # the prompt is still playing
    c.arm(900)  # the prompt was stopped
    assert c.digits == "5"
    assert c.deadline == 3500


def test_keys_after_the_result_are_ignored() -> None:
    c = collector(max_digits=1)
    c.arm(0)
    c.key("1", 10)
    c.key("2", 20)
    c.expire(10_000)
    assert c.result == Collected("1", timed_out=False, at_ms=10)


def test_keys_no_ivr_asks_for_are_ignored() -> None:
    c = collector(max_digits=1)
    c.arm(0)
    c.key("A", 10)
    assert c.result is None


@given(st.lists(st.tuples(st.integers(0, 20_000), st.sampled_from("0123456789*#")), max_size=12))
def test_any_key_sequence_ends_with_at_most_max_digits_and_no_terminator(
    keys: list[tuple[int, str]],
) -> None:
    c = collector(max_digits=4)
    c.arm(0)
    now = 0
    for delay, key in keys:
        now += delay
        c.expire(now)
        c.key(key, now)
    c.expire(now + 10_000)
    assert c.result is not None
    assert len(c.result.digits) <= 4
    assert "#" not in c.result.digits
