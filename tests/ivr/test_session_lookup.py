"""Lookups: asking the CRM and branching on what it said."""

from __future__ import annotations

from typing import Any

from ivr.actions import Lookup, SayNumber, Sound
from ivr.events import CustomerValue

from .session_driver import Driver, make_flow, queue

VIP: dict[str, CustomerValue] = {"id": "C-42", "name": "Ana", "tier": "vip", "open_cases": 2}


def caller_lookup(number: str = "+15551230000", **fields: Any) -> Driver:
    flow = make_flow(
        {
            "who": {"type": "lookup", "found": "known", "not_found": "stranger", **fields},
            "known": queue("known"),
            "stranger": queue("stranger"),
            "down": queue("crm-down"),
        }
    )
    driver = Driver(flow, number=number)
    driver.start()
    return driver


def test_a_caller_lookup_asks_by_the_caller_number() -> None:
    driver = caller_lookup()
    assert driver.lookup == Lookup("phone", "+15551230000")


def test_a_found_caller_goes_to_found() -> None:
    driver = caller_lookup()
    driver.found(VIP)
    assert driver.transfer.target == "known"


def test_a_found_customer_fills_the_outcome_variables() -> None:
    driver = caller_lookup()
    driver.found(VIP)
    variables = driver.variables
    assert (variables["CALLPOP_CUSTOMER_ID"], variables["CALLPOP_TIER"]) == ("C-42", "vip")
    assert variables["CALLPOP_VERIFIED"] == "0"
    assert driver.journey.customer_id == "C-42"


def test_not_found_goes_to_not_found() -> None:
    driver = caller_lookup()
    driver.not_found()
    assert driver.transfer.target == "stranger"
    assert "CALLPOP_CUSTOMER_ID" not in driver.variables  # unset: reads as empty


def test_an_unavailable_crm_goes_to_unavailable() -> None:
    driver = caller_lookup(unavailable="down")
    driver.unavailable()
    assert driver.transfer.target == "crm-down"
    assert driver.journey.steps[0].result == "unavailable"


def test_an_unavailable_crm_defaults_to_not_found() -> None:
    driver = caller_lookup()
    driver.unavailable()
    assert driver.transfer.target == "stranger"


def test_a_withheld_number_is_not_looked_up() -> None:
    driver = caller_lookup(number="")
    assert driver.transfer.target == "stranger"
    assert not any(isinstance(a, Lookup) for a in driver.actions)


def test_lookup_prompts_play_before_the_lookup() -> None:
    driver = caller_lookup(prompts=["one-moment"])
    assert driver.sounds == ["one-moment"]
    driver.played()
    assert driver.lookup.by == "phone"


def test_an_account_found_alone_identifies_but_does_not_verify_the_caller() -> None:
    flow = make_flow(
        {
            "acct": {"type": "input", "prompts": ["enter"], "variable": "acct", "next": "check"},
            "check": {
                "type": "lookup",
                "by": "account",
                "variable": "acct",
                "found": "q",
                "not_found": "q",
            },
            "q": queue("q"),
        }
    )
    driver = Driver(flow)
    driver.start()
    driver.keys("5551")
    assert driver.lookup == Lookup("account", "5551")
    driver.found(VIP)
    assert driver.variables["CALLPOP_VERIFIED"] == "0"
    assert driver.journey.identity == "account"
    assert not driver.journey.verified


def test_an_account_lookup_with_nothing_entered_is_not_found() -> None:
    flow = make_flow(
        {
            "check": {
                "type": "lookup",
                "by": "account",
                "variable": "acct",
                "found": "yes",
                "not_found": "no",
            },
            "yes": queue("yes"),
            "no": queue("no"),
        }
    )
    driver = Driver(flow)
    driver.start()
    assert driver.transfer.target == "no"


def test_customer_fields_feed_conditions_and_prompts() -> None:
    flow = make_flow(
        {
            "who": {"type": "lookup", "found": "is-vip", "not_found": "q"},
            "is-vip": {
                "type": "branch",
                "cases": [
                    {"when": 'customer.tier == "vip" and customer.open_cases > 1', "goto": "cases"}
                ],
                "default": "q",
            },
            "cases": {
                "type": "play",
                "next": "q",
                "prompts": [
                    {"sound": "you-have"},
                    {"number": "{customer.open_cases}"},
                    {"sound": "open-cases"},
                ],
            },
            "q": queue("q"),
        }
    )
    driver = Driver(flow)
    driver.start()
    driver.found(VIP)
    assert driver.play.prompts == (Sound("you-have"), SayNumber(2), Sound("open-cases"))
