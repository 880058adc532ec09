"""Two waits, apart (docs/configuration.md, `crm`): the IVR stops waiting at its budget,
the pop waits for its own window, and only the CRM's own deadline or its errors count
against it. Against a fake REST CRM on a real socket that answers in 2 s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from crm_adapter.breaker import BreakerState, CircuitBreaker
from crm_adapter.lookup import lookup_within_budget
from crm_adapter.port import CrmTimeout
from crm_adapter.resilient import ResilientCrm
from crm_adapter.rest.adapter import RestCrm
from crm_adapter.settings import RestSettings
from ivr.events import LookupStatus
from ivr.loop_concurrency import LOOP

from .crm_fake_server import FakeCrm, contact, hubspot_settings

BUDGET_S = 0.3
SLOW_S = 2.0  # the CRM's answer time: well past the budget, well within its deadline
CALLERS = [f"+1555123{n:04d}" for n in range(12)]


@pytest.fixture
def fake() -> FakeCrm:
    return FakeCrm(
        contacts=[contact(f"c{n}", "Caller", str(n), number) for n, number in enumerate(CALLERS)],
        delay_s=SLOW_S,
    )


@pytest.fixture
async def base_url(fake: FakeCrm) -> AsyncIterator[str]:
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def _crm(base_url: str, *, timeout_s: float = 5.0, failures: int = 3) -> ResilientCrm:
    settings = RestSettings.model_validate(hubspot_settings(base_url, timeout_s=timeout_s))
    return ResilientCrm(
        await RestCrm.open(settings),
        breaker=CircuitBreaker(failures=failures, reset_s=30),
        cache_ttl_s=60,
        timeout_s=timeout_s,
    )


async def test_lookups_cut_at_the_budget_leave_the_breaker_closed_while_a_slow_crm_answers(
    base_url: str, fake: FakeCrm
) -> None:
    crm = await _crm(base_url, failures=3)
    try:
        cut = await asyncio.gather(
            *(lookup_within_budget(crm, "phone", n, BUDGET_S, concurrency=LOOP) for n in CALLERS)
        )
        assert {(o.status, o.failure) for o in cut} == {(LookupStatus.UNAVAILABLE, "timeout")}
        # four times the breaker's threshold of callers gave up on the CRM: none of it
        # was the CRM's fault
        assert crm.breaker.state is BreakerState.CLOSED

        # the requests went on: the pop, asking later for the same callers, gets their
        # records from them when the CRM answers, with no second request
        found = await asyncio.gather(*(crm.find_by_phone(n) for n in CALLERS))
        assert [[c.name for c in f] for f in found] == [[f"Caller {n}"] for n in range(12)]
        assert len(fake.seen) == len(CALLERS)
        assert crm.breaker.state is BreakerState.CLOSED

        # and the next call of one of them is answered within the budget, from the cache
        again = await lookup_within_budget(crm, "phone", CALLERS[0], BUDGET_S, concurrency=LOOP)
        assert again.status is LookupStatus.FOUND
    finally:
        await crm.aclose()


async def test_a_crm_past_its_own_deadline_opens_the_breaker(base_url: str, fake: FakeCrm) -> None:
    # the same 2 s CRM, but the integrator allowed it 0.5 s (`crm.rest.timeout_s`)
    crm = await _crm(base_url, timeout_s=0.5, failures=3)
    try:
        for number in CALLERS[:3]:
            outcome = await lookup_within_budget(crm, "phone", number, BUDGET_S, concurrency=LOOP)
            assert outcome.failure == "timeout"
        with pytest.raises(CrmTimeout):
            # the pop waits for the read the IVR left: it ends at the CRM's deadline
            await crm.find_by_phone(CALLERS[2])
        assert crm.breaker.state is BreakerState.OPEN

        asked = len(fake.seen)
        refused = await lookup_within_budget(crm, "phone", CALLERS[5], BUDGET_S, concurrency=LOOP)
        assert refused.failure == "circuit open"
        assert len(fake.seen) == asked
    finally:
        await crm.aclose()


async def test_a_crm_answering_errors_opens_the_breaker_within_the_budget(
    base_url: str, fake: FakeCrm
) -> None:
    fake.delay_s = 0
    fake.mode = "error500"
    crm = await _crm(base_url, failures=3)
    try:
        for number in CALLERS[:3]:
            outcome = await lookup_within_budget(crm, "phone", number, BUDGET_S, concurrency=LOOP)
            assert outcome.failure == "unavailable"
        assert crm.breaker.state is BreakerState.OPEN
    finally:
        await crm.aclose()
