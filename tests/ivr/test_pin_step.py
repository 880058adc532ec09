"""The `pin` node: the caller's PIN goes to the CRM (`CheckPin`) for the customer
identified so far; a right one verifies the caller (identity `pin`), a wrong one is
asked again up to `max_attempts`, and the digits are kept nowhere."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ivr.actions import PIN_SHOWN, Action, CheckPin, Collect
from ivr.errors import SessionError
from ivr.events import CustomerValue, PinChecked, PinStatus
from ivr.flow import Flow

from .session_driver import Driver, make_flow, queue

ANA: dict[str, CustomerValue] = {"id": "C-1", "name": "Ana", "tier": "standard"}
PIN = "4821"


def pin_flow(**pin: Any) -> Flow:
    return make_flow(
        {
            "ident": {"type": "lookup", "by": "caller", "found": "pin", "not_found": "pin"},
            "pin": {
                "type": "pin",
                "prompts": ["enter-pin"],
                "verified": "verified",
                "failed": "failed",
                **pin,
            },
            "verified": queue("verified"),
            "failed": queue("failed"),
            "no_pin": queue("no_pin"),
            "crm_down": queue("crm_down"),
        },
        entry="ident",
    )


def identified(**pin: Any) -> Driver:
    driver = Driver(pin_flow(**pin))
    driver.start()
    driver.found(ANA)
    return driver


def answer(driver: Driver, status: PinStatus) -> list[Action]:
    driver.actions = driver.session.handle(PinChecked(status, driver._tick()))
    return driver.actions


def check(driver: Driver) -> CheckPin:
    last = driver.last
    assert isinstance(last, CheckPin), driver.actions
    return last


def test_the_pin_is_collected_as_a_masked_entry() -> None:
    collect = identified().collect
    assert (collect.sensitive, collect.pin) == (True, True)
    assert (collect.min_digits, collect.max_digits, collect.terminator) == (4, 8, "#")


def test_the_digits_go_to_the_crm_for_the_identified_customer() -> None:
    driver = identified()
    driver.keys(PIN)
    assert (check(driver).customer_id, check(driver).pin) == ("C-1", PIN)
    assert PIN not in repr(check(driver))


def test_a_right_pin_verifies_the_caller() -> None:
    driver = identified()
    driver.keys(PIN)
    answer(driver, PinStatus.VERIFIED)
    assert driver.transfer.target == "verified"
    assert driver.journey.identity == "pin"
    assert driver.journey.verified is True
    assert driver.variables["CALLPOP_VERIFIED"] == "1"
    assert driver.variables["CALLPOP_CUSTOMER_ID"] == "C-1"
    assert driver.journey.steps[-2].result == "verified"


def test_a_wrong_pin_is_asked_again_after_the_wrong_prompts() -> None:
    driver = identified()
    driver.keys("1111")
    answer(driver, PinStatus.WRONG)
    assert driver.sounds == ["callpop/pin-wrong", "enter-pin"]
    driver.keys(PIN)
    answer(driver, PinStatus.VERIFIED)
    assert driver.transfer.target == "verified"


def test_three_wrong_pins_go_to_failed_unverified() -> None:
    driver = identified()
    for _ in range(3):
        driver.keys("1111")
        answer(driver, PinStatus.WRONG)
    assert driver.transfer.target == "failed"
    assert driver.variables["CALLPOP_VERIFIED"] == "0"
    assert driver.journey.identity == "ani"
    step = driver.journey.steps[1]
    assert (step.result, step.invalid) == ("max-attempts", 3)
    assert driver.reason == "pin-failed"


def test_silence_counts_as_an_attempt() -> None:
    driver = identified(max_attempts=2)
    driver.silence()
    assert isinstance(driver.last, Collect)
    driver.silence()
    assert driver.transfer.target == "failed"


def test_an_entry_too_short_is_wrong_without_asking_the_crm() -> None:
    driver = identified()
    driver.keys("12")
    assert isinstance(driver.last, Collect)
    assert driver.sounds == ["callpop/pin-wrong", "enter-pin"]
    assert driver.journey.steps[1].invalid == 1


def test_a_locked_customer_goes_to_failed_at_once() -> None:
    driver = identified()
    driver.keys(PIN)
    answer(driver, PinStatus.LOCKED)
    assert driver.transfer.target == "failed"
    assert driver.journey.steps[1].result == "locked"
    assert driver.reason == "pin-locked"


@pytest.mark.parametrize(
    ("status", "target", "result"),
    [(PinStatus.NO_PIN, "no_pin", "no-pin"), (PinStatus.UNAVAILABLE, "crm_down", "unavailable")],
)
def test_no_pin_and_a_crm_down_have_their_own_targets(
    status: PinStatus, target: str, result: str
) -> None:
    driver = identified(no_pin="no_pin", unavailable="crm_down")
    driver.keys(PIN)
    answer(driver, status)
    assert driver.transfer.target == target
    assert driver.journey.steps[1].result == result


@pytest.mark.parametrize("status", [PinStatus.NO_PIN, PinStatus.UNAVAILABLE])
def test_no_pin_and_a_crm_down_default_to_failed(status: PinStatus) -> None:
    driver = identified()
    driver.keys(PIN)
    answer(driver, status)
    assert driver.transfer.target == "failed"


def test_nobody_identified_asks_nothing_and_fails() -> None:
    driver = Driver(pin_flow())
    driver.start()
    driver.not_found()
    assert driver.transfer.target == "failed"
    assert driver.journey.steps[1].result == "no-customer"


def test_a_shared_number_identifies_nobody_whose_pin_could_be_checked() -> None:
    driver = Driver(pin_flow())
    driver.start()
    driver.several("C-1", "C-2")
    assert driver.transfer.target == "failed"


def test_keys_typed_ahead_are_not_taken_as_the_pin() -> None:
    flow = make_flow(
        {
            "hello": {"type": "play", "prompts": ["hello"], "next": "ident"},
            "ident": {"type": "lookup", "by": "caller", "found": "pin", "not_found": "pin"},
            "pin": {"type": "pin", "prompts": ["enter-pin"], "verified": "ok", "failed": "ko"},
            "ok": queue("ok"),
            "ko": queue("ko"),
        },
        entry="hello",
    )
    driver = Driver(flow)
    driver.start()
    driver.played("4821")
    driver.found(ANA)
    assert isinstance(driver.last, Collect)
    assert driver.sounds == ["enter-pin"]


def test_the_journey_shows_stars_for_every_entry_whatever_its_length() -> None:
    driver = identified(max_digits=12)
    driver.keys("123456789012")
    answer(driver, PinStatus.WRONG)
    driver.keys(PIN)
    answer(driver, PinStatus.VERIFIED)
    assert driver.journey.steps[1].keys == [PIN_SHOWN, PIN_SHOWN]
    stored = json.dumps(driver.journey.to_dict())
    assert "123456789012" not in stored and PIN not in stored


def test_an_account_of_another_customer_keeps_its_warning_once_the_pin_verifies() -> None:
    flow = make_flow(
        {
            "ident": {"type": "lookup", "by": "caller", "found": "acct", "not_found": "acct"},
            "acct": {"type": "input", "prompts": ["acct"], "variable": "acct", "next": "find"},
            "find": {
                "type": "lookup",
                "by": "account",
                "variable": "acct",
                "found": "pin",
                "not_found": "ko",
            },
            "pin": {"type": "pin", "prompts": ["enter-pin"], "verified": "ok", "failed": "ko"},
            "ok": queue("ok"),
            "ko": queue("ko"),
        },
        entry="ident",
    )
    driver = Driver(flow)
    driver.start()
    driver.found(ANA)
    driver.keys("5551")
    driver.found({"id": "C-2", "name": "Ben"})
    assert driver.journey.identity == "account"
    driver.keys(PIN)
    assert check(driver).customer_id == "C-2"  # the account's customer, not the caller ID's
    answer(driver, PinStatus.VERIFIED)
    assert (driver.journey.identity, driver.journey.verified) == ("pin", True)
    assert driver.journey.identity_warning == "account-not-caller"


def test_a_pin_check_answered_by_another_event_is_a_driver_bug() -> None:
    driver = identified()
    driver.keys(PIN)
    with pytest.raises(SessionError):
        driver.keys("1")


def test_a_pin_node_has_no_pin_to_compare_with() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        pin_flow(pin="1234")


def test_the_terminator_alone_is_no_pin_and_counts_as_a_silence() -> None:
    driver = identified()
    driver.terminator()
    assert isinstance(driver.last, Collect)
    assert driver.sounds == ["enter-pin"]
    step = driver.journey.steps[1]
    assert (step.keys, step.timeouts, step.invalid) == ([], 1, 0)
