"""`IvrServices.verify_pin`: the CRM's answer within the PIN budget, never raising; a
CRM that fails is `unavailable`, logged once per change of state, never with the PIN."""

from __future__ import annotations

import logging

import pytest

from callpop.metrics import Metrics
from callpop.services import IvrServices
from crm_adapter.memory import InMemoryCrm
from crm_adapter.port import CrmUnavailable, CustomerDraft
from ivr.events import PinStatus
from screenpop.bus import InProcessBus

PIN = "5170"


def services(crm: InMemoryCrm) -> IvrServices:
    return IvrServices(
        crm=crm,
        bus=InProcessBus(),
        journeys=None,
        metrics=Metrics(),
        lookup_budget_ms=300,
        pin_budget_ms=2000,
    )


async def test_a_pin_is_checked_by_the_crm(caplog: pytest.LogCaptureFixture) -> None:
    crm = InMemoryCrm()
    pat = crm.add_customer(CustomerDraft("Pat"))
    crm.set_pin(pat.id, PIN)
    svc = services(crm)
    assert (await svc.verify_pin(pat.id, PIN, at_ms=3)).status is PinStatus.VERIFIED
    assert (await svc.verify_pin(pat.id, "0000", at_ms=4)).status is PinStatus.WRONG
    assert (await svc.verify_pin("99", PIN, at_ms=5)).status is PinStatus.NO_PIN


async def test_a_failing_crm_is_unavailable_and_logged_once_per_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    crm = InMemoryCrm()
    pat = crm.add_customer(CustomerDraft("Pat"))
    crm.set_pin(pat.id, PIN)
    svc = services(crm)
    caplog.set_level(logging.INFO, logger="callpop.services")
    crm.failure = CrmUnavailable("down")
    for at in (1, 2, 3):
        assert (await svc.verify_pin(pat.id, PIN, at_ms=at)).status is PinStatus.UNAVAILABLE
    crm.failure = None
    assert (await svc.verify_pin(pat.id, PIN, at_ms=4)).status is PinStatus.VERIFIED
    messages = [r.getMessage() for r in caplog.records if r.name == "callpop.services"]
    assert messages == [
        "PIN checks failing (unavailable); callers go to the pin node's failure",
        "PIN checks answered again",
    ]
    assert PIN not in caplog.text
