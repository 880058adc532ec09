"""Matching and identity (docs/contracts.md): a shared number routes on nobody, and a
caller is verified only by an account of the caller ID's customer or by a secret."""

from __future__ import annotations

from ivr.events import CustomerValue

from .session_driver import Driver, make_flow, queue

ANA: dict[str, CustomerValue] = {"id": "C-1", "name": "Ana", "tier": "vip"}
BEN: dict[str, CustomerValue] = {"id": "C-2", "name": "Ben", "tier": "standard"}


def identify_then_account(several: str | None = None) -> Driver:
    ident: dict[str, object] = {
        "type": "lookup",
        "by": "caller",
        "found": "acct",
        "not_found": "unknown",
    }
    if several is not None:
        ident["several"] = several
    flow = make_flow(
        {
            "ident": ident,
            "acct": {"type": "input", "prompts": ["enter"], "variable": "acct", "next": "check"},
            "check": {
                "type": "lookup",
                "by": "account",
                "variable": "acct",
                "found": "vip_check",
                "not_found": "unknown",
            },
            "vip_check": {
                "type": "branch",
                "cases": [{"when": 'customer.tier == "vip"', "goto": "vip"}],
                "default": "known",
            },
            "vip": queue("vip"),
            "known": queue("known"),
            "unknown": queue("unknown"),
        },
        entry="ident",
    )
    driver = Driver(flow)
    driver.start()
    return driver


def test_a_shared_number_without_an_account_step_is_routed_as_unknown() -> None:
    driver = identify_then_account()
    driver.several("C-1", "C-2")
    assert driver.transfer.target == "unknown"
    # No customer: their variables are not set (they read as empty in the dialplan).
    assert "CALLPOP_CUSTOMER_ID" not in driver.variables
    assert "CALLPOP_TIER" not in driver.variables
    assert driver.journey.identity == "none"
    assert driver.journey.steps[0].result == "several"


def test_a_shared_number_asks_for_the_account_and_that_account_verifies_the_caller() -> None:
    driver = identify_then_account(several="acct")
    driver.several("C-1", "C-2")
    driver.keys("5551")
    driver.found(ANA)
    assert driver.transfer.target == "vip"
    assert driver.journey.identity == "account+ani"
    assert driver.variables["CALLPOP_VERIFIED"] == "1"


def test_customer_count_is_what_conditions_see_on_a_shared_number() -> None:
    flow = make_flow(
        {
            "ident": {
                "type": "lookup",
                "by": "caller",
                "found": "one",
                "not_found": "count",
            },
            "count": {
                "type": "branch",
                "cases": [{"when": "customer.count >= 2", "goto": "shared"}],
                "default": "one",
            },
            "shared": queue("shared"),
            "one": queue("one"),
        },
        entry="ident",
    )
    driver = Driver(flow)
    driver.start()
    driver.several("C-1", "C-2", "C-3")
    assert driver.transfer.target == "shared"


def test_caller_id_alone_identifies_but_does_not_verify() -> None:
    driver = identify_then_account()
    driver.found(ANA)
    assert driver.journey.identity == "ani"
    assert not driver.journey.verified


def test_the_caller_id_customers_own_account_verifies() -> None:
    driver = identify_then_account()
    driver.found(ANA)
    driver.keys("5551")
    driver.found(ANA)
    assert driver.journey.identity == "account+ani"
    assert driver.journey.identity_warning is None
    assert driver.variables["CALLPOP_VERIFIED"] == "1"


def test_another_customers_account_from_this_phone_is_a_warning_and_not_verified() -> None:
    driver = identify_then_account()
    driver.found(ANA)
    driver.keys("5551")
    driver.found(BEN)
    assert driver.journey.identity == "account"
    assert driver.journey.identity_warning == "account-not-caller"
    assert driver.variables["CALLPOP_VERIFIED"] == "0"
    assert driver.variables["CALLPOP_CUSTOMER_ID"] == "C-2"
    assert driver.journey.to_dict()["identity_warning"] == "account-not-caller"
