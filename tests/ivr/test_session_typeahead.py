"""Type-ahead: keys pressed during prompts serve the next node that listens."""

from __future__ import annotations

from typing import Any

from ivr.actions import Collect, Play, SayDigits, Sound

from .session_driver import Driver, make_flow, menu, queue


def tree(**extra: Any) -> Driver:
    flow = make_flow(
        {
            "welcome": {"type": "play", "prompts": ["welcome"], "next": "main"},
            "main": menu({"1": "billing", "2": "account"}, "main-menu"),
            "billing": menu({"1": "pay", "2": "disputes"}, "billing-menu"),
            "pay": queue("payments"),
            "disputes": queue("disputes"),
            "account": {
                "type": "input",
                "prompts": ["enter-account"],
                "variable": "account",
                "min_digits": 4,
                "max_digits": 8,
                "next": "done",
                **extra,
            },
            "done": queue("accounts"),
        }
    )
    driver = Driver(flow)
    driver.start()
    return driver


def test_a_key_pressed_during_a_play_answers_the_next_menu() -> None:
    driver = tree()
    driver.played(keys="1")
    assert driver.sounds == ["billing-menu"]
    assert driver.journey.steps[1].keys == ["1"]


def test_a_regular_caller_dials_through_the_tree() -> None:
    driver = tree()
    driver.played(keys="12")
    assert driver.transfer.target == "disputes"
    assert not any(isinstance(a, Collect | Play) for a in driver.actions)


def test_extra_digits_in_a_menu_answer_are_kept_for_the_next_menu() -> None:
    driver = tree()
    driver.played()
    driver.keys("12")
    assert driver.transfer.target == "disputes"


def test_an_invalid_typed_ahead_key_drops_the_rest() -> None:
    driver = tree()
    driver.played(keys="91")
    assert driver.sounds == ["pm-invalid-option", "main-menu"]


def test_a_repeat_typed_ahead_does_not_play_the_menu_when_more_keys_follow() -> None:
    driver = tree()
    driver.played(keys="#1")
    assert driver.sounds == ["billing-menu"]


def test_an_interruptible_play_is_skipped_when_the_caller_typed_ahead() -> None:
    flow = make_flow(
        {
            "m": menu({"1": "note"}),
            "note": {"type": "play", "prompts": ["note"], "next": "n"},
            "n": menu({"1": "q"}, "next-menu"),
            "q": queue("q"),
        }
    )
    driver = Driver(flow)
    driver.start()
    driver.keys("11")
    assert driver.transfer.target == "q"
    assert driver.journey.steps[1].result == "skipped"


def test_a_non_interruptible_play_always_plays() -> None:
    flow = make_flow(
        {
            "m": menu({"1": "legal"}),
            "legal": {"type": "play", "prompts": ["recorded"], "next": "n", "interruptible": False},
            "n": menu({"1": "q"}, "next-menu"),
            "q": queue("q"),
        }
    )
    driver = Driver(flow)
    driver.start()
    driver.keys("11")
    assert driver.play == Play((Sound("recorded"),), interruptible=False)
    driver.played()
    assert driver.transfer.target == "q"


def test_an_input_takes_a_typed_ahead_entry_up_to_the_terminator() -> None:
    driver = tree()
    driver.played(keys="212345#")
    assert driver.transfer.target == "accounts"
    assert driver.journey.steps[-2].keys == ["12345"]


def test_an_input_takes_a_typed_ahead_entry_of_max_digits() -> None:
    driver = tree()
    driver.played(keys="212345678")
    assert driver.transfer.target == "accounts"


def test_a_partial_entry_typed_ahead_is_completed_without_prompts() -> None:
    driver = tree()
    driver.played(keys="2123")
    assert driver.collect == Collect(
        prompts=(),
        max_digits=5,
        min_digits=1,
        timeout_ms=3000,
        interdigit_ms=3000,
        terminator="#",
    )
    driver.keys("45")
    assert driver.journey.steps[-2].keys == ["12345"]


def test_a_partial_entry_ends_at_the_interdigit_timeout() -> None:
    driver = tree()
    driver.played(keys="21234")
    driver.silence()
    assert driver.transfer.target == "accounts"
    assert driver.journey.steps[-2].keys == ["1234"]


def test_a_confirmation_ignores_keys_typed_before_the_read_back() -> None:
    confirm = {"prompts": [{"sound": "you-entered"}, {"digits": "{digits}"}]}
    driver = tree(confirm=confirm)
    driver.played(keys="212345#1")
    assert driver.collect.prompts == (Sound("you-entered"), SayDigits("12345"))
