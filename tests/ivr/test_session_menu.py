"""Menus: options, invalid entries and timeouts, global keys, direct dial, topics."""

from __future__ import annotations

from typing import Any

from ivr.actions import Collect, Sound

from .session_driver import Driver, make_flow, menu, queue


def hotline(**settings: Any) -> Driver:
    flow = make_flow(
        {
            "main": menu({"1": {"goto": "billing", "topic": "billing"}, "2": "sales"}, "main-menu"),
            "billing": menu({"1": "pay", "2": "disputes"}, "billing-menu", topic="billing"),
            "pay": queue("payments"),
            "disputes": queue("disputes", topic="complaint"),
            "sales": queue("sales", priority=2),
        },
        settings=settings,
    )
    driver = Driver(flow)
    driver.start()
    return driver


def test_a_menu_collects_one_key_with_its_prompts() -> None:
    driver = hotline(timeout="7s")
    assert driver.collect == Collect(
        prompts=(Sound("main-menu"),), max_digits=1, timeout_ms=7000, interdigit_ms=3000
    )


def test_an_option_leads_to_its_node() -> None:
    driver = hotline()
    driver.keys("2")
    assert (driver.transfer.kind, driver.transfer.target, driver.transfer.priority) == (
        "queue",
        "sales",
        2,
    )
    assert driver.reason == "option"


def test_an_invalid_key_plays_the_invalid_prompts_then_the_menu_again() -> None:
    driver = hotline()
    driver.keys("9")
    assert driver.sounds == ["pm-invalid-option", "main-menu"]
    assert driver.journey.steps[-1].invalid == 1


def test_a_node_may_have_its_own_invalid_prompts() -> None:
    flow = make_flow({"m": menu({"1": "q"}, invalid_prompts=["sorry"]), "q": queue("q")})
    driver = Driver(flow)
    driver.start()
    driver.keys("5")
    assert driver.sounds == ["sorry", "menu"]


def test_invalid_entries_past_the_limit_go_to_the_operator_queue() -> None:
    driver = hotline(max_invalid=2, operator_queue="frontdesk")
    driver.keys("9")
    driver.keys("8")
    assert (driver.transfer.kind, driver.transfer.target) == ("queue", "frontdesk")
    assert driver.reason == "max-invalid"


def test_on_failure_names_where_a_spent_counter_leads() -> None:
    flow = make_flow(
        {
            "m": menu({"1": "q"}, max_invalid=1, on_failure="help"),
            "q": queue("q"),
            "help": queue("helpdesk"),
        }
    )
    driver = Driver(flow)
    driver.start()
    driver.keys("7")
    assert driver.transfer.target == "helpdesk"
    assert driver.reason == "max-invalid"


def test_a_timeout_plays_the_timeout_prompts_then_the_menu_again() -> None:
    driver = hotline(timeout_prompts=["are-you-there"])
    driver.silence()
    assert driver.sounds == ["are-you-there", "main-menu"]
    assert driver.journey.steps[-1].timeouts == 1


def test_invalid_and_timeout_counters_are_separate() -> None:
    driver = hotline(max_invalid=3, max_timeouts=3)
    for _ in range(2):
        driver.keys("9")
        driver.silence()
    assert isinstance(driver.last, Collect)
    driver.silence()
    assert driver.transfer.target == "operator"
    assert driver.reason == "max-timeouts"


def test_a_node_limit_overrides_the_settings_limit() -> None:
    flow = make_flow(
        {"m": menu({"1": "q"}, max_timeouts=1), "q": queue("q")}, settings={"max_timeouts": 5}
    )
    driver = Driver(flow)
    driver.start()
    driver.silence()
    assert driver.transfer.target == "operator"


def test_failures_across_the_call_lead_to_an_agent() -> None:
    driver = hotline(agent_after_failures=3, max_invalid=3)
    driver.keys("9")  # main: 1 failure
    driver.keys("1")
    driver.silence()  # billing: 2 failures
    driver.keys("9")  # 3
    assert driver.transfer.target == "operator"
    assert driver.reason == "agent-after-failures"


def test_the_operator_key_goes_to_the_operator_queue() -> None:
    driver = hotline(operator_queue="frontdesk")
    driver.keys("0")
    assert driver.transfer.target == "frontdesk"
    assert driver.reason == "operator-key"


def test_the_operator_key_goes_to_the_operator_node_when_there_is_one() -> None:
    flow = make_flow(
        {"m": menu({"1": "q"}), "q": queue("q"), "op": queue("reception", priority=9)},
        settings={"operator": "op"},
    )
    driver = Driver(flow)
    driver.start()
    driver.keys("0")
    assert (driver.transfer.target, driver.transfer.priority) == ("reception", 9)
    assert driver.reason == "operator-key"


def test_a_menu_option_takes_precedence_over_a_global_key() -> None:
    flow = make_flow({"m": menu({"0": "q"}), "q": queue("zero")})
    driver = Driver(flow)
    driver.start()
    driver.keys("0")
    assert driver.transfer.target == "zero"
    assert driver.reason == "option"


def test_a_disabled_global_key_is_an_invalid_key() -> None:
    flow = make_flow(
        {"m": menu({"1": "q"}), "q": queue("q")}, settings={"keys": {"operator": None}}
    )
    driver = Driver(flow)
    driver.start()
    driver.keys("0")
    assert driver.journey.steps[-1].invalid == 1


def test_repeat_replays_the_menu_without_counting_a_failure() -> None:
    driver = hotline()
    driver.keys("#")
    assert driver.sounds == ["main-menu"]
    assert driver.journey.steps[-1].invalid == 0


def test_the_terminator_alone_is_the_hash_key() -> None:
    driver = hotline()
    driver.terminator()
    assert driver.sounds == ["main-menu"]
    assert driver.journey.steps[-1].keys == ["#"]


def test_hash_is_an_option_when_the_menu_says_so() -> None:
    flow = make_flow({"m": menu({"1": "q", "#": "h"}), "q": queue("q"), "h": queue("hash")})
    driver = Driver(flow)
    driver.start()
    driver.terminator()
    assert driver.transfer.target == "hash"


def test_repeats_past_max_repeats_go_to_the_operator() -> None:
    driver = hotline(max_repeats=2)
    driver.keys("#")
    driver.keys("#")
    assert isinstance(driver.last, Collect)
    driver.keys("#")
    assert driver.transfer.target == "operator"
    assert driver.reason == "max-repeats"


def test_back_returns_to_the_previous_menu() -> None:
    driver = hotline()
    driver.keys("1")
    assert driver.sounds == ["billing-menu"]
    driver.keys("*")
    assert driver.sounds == ["main-menu"]
    assert driver.journey.path == ["main", "billing", "main"]


def test_back_at_the_first_menu_repeats_it() -> None:
    driver = hotline(max_repeats=1)
    driver.keys("*")
    assert driver.sounds == ["main-menu"]
    driver.keys("*")
    assert driver.reason == "max-repeats"


def test_back_follows_the_way_the_caller_came_not_the_tree() -> None:
    # "shared" is reachable from both menus; back from it returns where the caller was.
    flow = make_flow(
        {
            "main": menu({"1": "a", "2": "b"}, "main-menu"),
            "a": menu({"1": "shared"}, "a-menu"),
            "b": menu({"1": "jump"}, "b-menu"),
            "jump": {"type": "goto", "node": "shared"},
            "shared": menu({"1": "q"}, "shared-menu"),
            "q": queue("q"),
        }
    )
    driver = Driver(flow)
    driver.start()
    driver.keys("2")
    driver.keys("1")
    assert driver.sounds == ["shared-menu"]
    driver.keys("*")
    assert driver.sounds == ["b-menu"]
    driver.keys("*")
    assert driver.sounds == ["main-menu"]


def test_back_crosses_back_out_of_a_sub_flow() -> None:
    main = make_flow(
        {"main": menu({"1": "sub"}, "main-menu"), "sub": {"type": "goto", "flow": "support"}}
    )
    support = make_flow({"s": menu({"1": "q"}, "support-menu"), "q": queue("tech")}, id="support")
    driver = Driver({"main": main, "support": support})
    driver.start()
    driver.keys("1")
    assert driver.sounds == ["support-menu"]
    driver.keys("*")
    assert driver.sounds == ["main-menu"]


def test_the_keys_of_the_flow_the_caller_is_in_apply() -> None:
    main = make_flow({"main": menu({"1": "sub"}), "sub": {"type": "goto", "flow": "support"}})
    support = make_flow(
        {"s": menu({"1": "q"}), "q": queue("tech")},
        id="support",
        settings={"operator_queue": "tech-lead", "keys": {"operator": "9"}},
    )
    driver = Driver({"main": main, "support": support})
    driver.start()
    driver.keys("1")
    driver.keys("9")
    assert driver.transfer.target == "tech-lead"


def test_direct_dial_collects_up_to_the_longest_extension() -> None:
    flow = make_flow(
        {
            "m": menu(
                {"1": "q"},
                direct_dial={
                    "pattern": "[2-8][0-9]{3}",
                    "min_digits": 4,
                    "max_digits": 4,
                    "interdigit_timeout": "1500ms",
                },
            ),
            "q": queue("q"),
        }
    )
    driver = Driver(flow)
    driver.start()
    assert (driver.collect.max_digits, driver.collect.terminator) == (4, "#")
    assert driver.collect.interdigit_ms == 1500
    driver.keys("2345")
    assert (driver.transfer.kind, driver.transfer.target) == ("extension", "2345")
    assert driver.reason == "direct-dial"


def test_a_single_key_in_a_direct_dial_menu_is_still_an_option() -> None:
    flow = make_flow(
        {
            "m": menu(
                {"1": "q"}, direct_dial={"pattern": "[0-9]{4}", "min_digits": 4, "max_digits": 4}
            ),
            "q": queue("one"),
        }
    )
    driver = Driver(flow)
    driver.start()
    driver.silence("1")  # the interdigit timeout ended a one-key entry
    assert driver.transfer.target == "one"


def test_an_entry_that_is_no_extension_is_invalid() -> None:
    flow = make_flow(
        {
            "m": menu(
                {"1": "q"}, direct_dial={"pattern": "2[0-9]{3}", "min_digits": 4, "max_digits": 4}
            ),
            "q": queue("q"),
        }
    )
    driver = Driver(flow)
    driver.start()
    driver.keys("9999")
    assert driver.journey.steps[-1].invalid == 1


def test_the_topic_is_the_chosen_option_s() -> None:
    driver = hotline()
    driver.keys("1")
    driver.keys("1")
    assert driver.variables["CALLPOP_TOPIC"] == "billing"


def test_the_menu_topic_applies_when_the_option_has_none() -> None:
    flow = make_flow({"m": menu({"1": "q"}, topic="sales"), "q": queue("q")})
    driver = Driver(flow)
    driver.start()
    driver.keys("1")
    assert driver.variables["CALLPOP_TOPIC"] == "sales"
    assert driver.journey.topic == "sales"


def test_the_transfer_topic_wins() -> None:
    driver = hotline()
    driver.keys("1")
    driver.keys("2")
    assert driver.variables["CALLPOP_TOPIC"] == "complaint"


def test_the_journey_records_each_menu_visit() -> None:
    driver = hotline()
    driver.keys("9")
    driver.silence()
    driver.keys("1")
    step = driver.journey.steps[0]
    assert (step.node, step.kind, step.keys, step.invalid, step.timeouts, step.result) == (
        "main",
        "menu",
        ["9", "1"],
        1,
        1,
        "1",
    )
    assert (step.entered_ms, step.left_ms) == (0, 3000)
