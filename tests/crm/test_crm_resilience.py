"""Breaker, cache and the IVR lookup's budget, against the in-memory CRM."""

from __future__ import annotations

import asyncio

import pytest

from crm_adapter.breaker import BreakerState, CircuitBreaker
from crm_adapter.cache import TtlCache
from crm_adapter.lookup import lookup_within_budget
from crm_adapter.memory import InMemoryCrm
from crm_adapter.port import (
    Case,
    CircuitOpen,
    CrmAdapter,
    CrmRejected,
    CrmTimeout,
    CrmUnavailable,
    Customer,
    CustomerDraft,
    NotFound,
)
from crm_adapter.resilient import ResilientCrm
from ivr.events import LookupStatus
from ivr.loop_concurrency import LOOP


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_forgets_after_its_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str] = TtlCache(60, clock=clock)
    cache.put("k", "v")
    clock.now = 59.9
    assert cache.get("k") == (True, "v")
    clock.now = 60
    assert cache.get("k") == (False, None)


def test_the_cache_drops_the_least_recently_used_beyond_its_size() -> None:
    cache: TtlCache[int] = TtlCache(60, max_size=2, clock=Clock())
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")
    cache.put("c", 3)
    assert [cache.get(k)[0] for k in "abc"] == [True, False, True]


def test_a_zero_ttl_cache_keeps_nothing() -> None:
    cache: TtlCache[int] = TtlCache(0, clock=Clock())
    cache.put("a", 1)
    assert cache.get("a") == (False, None)


def test_a_half_open_breaker_lets_exactly_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_s=5, clock=clock)
    breaker.failure()
    clock.now = 5
    breaker.allow()
    with pytest.raises(CircuitOpen):
        breaker.allow()


def test_a_cancelled_trial_frees_the_slot_without_a_verdict() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_s=5, clock=clock)
    breaker.failure()
    clock.now = 5
    with pytest.raises(asyncio.CancelledError), breaker.call():
        raise asyncio.CancelledError
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.allow()


def test_an_answer_the_crm_refuses_is_not_a_failure() -> None:
    breaker = CircuitBreaker(failures=1, clock=Clock())
    with pytest.raises(NotFound), breaker.call():
        raise NotFound("x")
    with pytest.raises(CrmRejected), breaker.call():
        raise CrmRejected("x")
    assert breaker.state is BreakerState.CLOSED


def _ada(crm: InMemoryCrm) -> Customer:
    ada = crm.add_customer(CustomerDraft("Ada", phones=("5551234567",), tier="vip", account="4711"))
    crm.add_case(ada.id, "Router")
    crm.add_case(ada.id, "Old bill", status="closed")
    return ada


def test_the_in_memory_crm_is_a_crm_adapter() -> None:
    assert isinstance(InMemoryCrm(), CrmAdapter)


async def test_a_found_lookup_has_the_customer_and_open_case_count() -> None:
    crm = InMemoryCrm()
    ada = _ada(crm)
    outcome = await lookup_within_budget(crm, "phone", "+1 555 123 4567", 0.3, concurrency=LOOP)
    assert (outcome.status, outcome.matches, outcome.open_cases) == (LookupStatus.FOUND, 1, 1)
    finished = outcome.finished(at_ms=1200)
    assert finished.customer is not None
    assert (finished.customer["id"], finished.customer["tier"], finished.at_ms) == (
        ada.id,
        "vip",
        1200,
    )


async def test_an_account_lookup_finds_by_account() -> None:
    crm = InMemoryCrm()
    _ada(crm)
    assert (
        await lookup_within_budget(crm, "account", "4711", 0.3, concurrency=LOOP)
    ).status is LookupStatus.FOUND
    assert (
        await lookup_within_budget(crm, "account", "4712", 0.3, concurrency=LOOP)
    ).status is LookupStatus.NOT_FOUND


async def test_a_crm_that_is_down_is_unavailable() -> None:
    crm = InMemoryCrm(failure=CrmUnavailable("down"))
    outcome = await lookup_within_budget(crm, "phone", "5551234567", 0.3, concurrency=LOOP)
    assert outcome.status is LookupStatus.UNAVAILABLE and "down" in outcome.reason


class Stalled(InMemoryCrm):
    """Answers lookups, or not at all, as told."""

    def __init__(self, stall_find: bool, stall_cases: bool) -> None:
        super().__init__()
        self.stall_find, self.stall_cases = stall_find, stall_cases
        self.never = asyncio.Event()

    async def find_by_phone(self, phone: str) -> list[Customer]:
        if self.stall_find:
            await self.never.wait()
        return await super().find_by_phone(phone)

    async def open_cases(self, customer_id: str) -> list[Case]:
        if self.stall_cases:
            await self.never.wait()
        return await super().open_cases(customer_id)


async def test_a_crm_that_never_answers_is_unavailable_at_the_budget() -> None:
    crm = Stalled(stall_find=True, stall_cases=False)
    _ada(crm)
    outcome = await lookup_within_budget(crm, "phone", "5551234567", 0.05, concurrency=LOOP)
    assert outcome.status is LookupStatus.UNAVAILABLE


async def test_cases_that_do_not_arrive_in_time_still_leave_the_customer_found() -> None:
    crm = Stalled(stall_find=False, stall_cases=True)
    _ada(crm)
    outcome = await lookup_within_budget(crm, "phone", "5551234567", 0.05, concurrency=LOOP)
    assert (outcome.status, outcome.open_cases) == (LookupStatus.FOUND, None)
    view = outcome.view()
    assert view is not None and "open_cases" not in view


class Broken(InMemoryCrm):
    async def find_by_phone(self, phone: str) -> list[Customer]:
        raise KeyError("a bug in an adapter")


async def test_a_bug_in_the_adapter_is_unavailable_not_a_crash() -> None:
    outcome = await lookup_within_budget(Broken(), "phone", "5551234567", 0.3, concurrency=LOOP)
    assert outcome.status is LookupStatus.UNAVAILABLE


async def test_a_created_customer_is_found_at_once_despite_the_cache() -> None:
    inner = InMemoryCrm()
    crm = ResilientCrm(inner, cache_ttl_s=60, clock=Clock())
    assert await crm.find_by_phone("5551234567") == []
    await crm.create_customer(CustomerDraft("Ada", phones=("5551234567",)))
    assert [c.name for c in await crm.find_by_phone("5551234567")] == ["Ada"]


class Late(InMemoryCrm):
    """Reads its answer at once, then holds it until the gate opens (a CRM whose answer
    is on the wire while the agent creates the customer)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.read = asyncio.Event()
        self.asked = 0

    async def find_by_phone(self, phone: str) -> list[Customer]:
        self.asked += 1
        found = await super().find_by_phone(phone)
        self.read.set()
        await self.gate.wait()
        return found


async def test_callers_of_one_number_share_one_read_which_a_budget_does_not_cancel() -> None:
    inner = Late()
    _ada(inner)
    crm = ResilientCrm(inner, cache_ttl_s=0, clock=Clock())  # no cache: only sharing helps
    cut = await lookup_within_budget(crm, "phone", "5551234567", 0.01, concurrency=LOOP)
    pop = asyncio.create_task(crm.find_by_phone("+15551234567"))
    await asyncio.sleep(0)  # the pop joins the read the IVR left
    inner.gate.set()
    assert cut.status is LookupStatus.UNAVAILABLE
    assert [c.name for c in await pop] == ["Ada"]
    assert inner.asked == 1


async def test_an_answer_in_flight_when_the_customer_is_created_is_not_cached() -> None:
    inner = Late()
    crm = ResilientCrm(inner, cache_ttl_s=60, clock=Clock())
    before = asyncio.create_task(crm.find_by_phone("5551234567"))
    await inner.read.wait()
    await crm.create_customer(CustomerDraft("Ada", phones=("5551234567",)))
    inner.gate.set()
    assert await before == []  # what the CRM said when asked
    assert [c.name for c in await crm.find_by_phone("5551234567")] == ["Ada"]


async def test_a_number_that_is_no_number_never_reaches_the_crm() -> None:
    crm = ResilientCrm(InMemoryCrm(failure=CrmUnavailable("down")), clock=Clock())
    assert await crm.find_by_phone("anonymous") == []


def test_failures_through_the_breaker_open_it_and_a_success_closes_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=2, reset_s=5, clock=clock)
    for _ in range(2):
        with pytest.raises(CrmUnavailable), breaker.call():
            raise CrmUnavailable("down")
    assert breaker.state is BreakerState.OPEN
    clock.now = 5
    with breaker.call():
        pass
    state: BreakerState = breaker.state  # the property changed under mypy's narrowing
    assert state is BreakerState.CLOSED


class BrokenCases(InMemoryCrm):
    async def open_cases(self, customer_id: str) -> list[Case]:
        raise KeyError("a bug in an adapter")


async def test_a_bug_in_the_open_cases_still_leaves_the_customer_found() -> None:
    crm = BrokenCases()
    _ada(crm)
    outcome = await lookup_within_budget(crm, "phone", "5551234567", 0.3, concurrency=LOOP)
    assert (outcome.status, outcome.open_cases) == (LookupStatus.FOUND, None)


class TimesOut(InMemoryCrm):
    async def find_by_phone(self, phone: str) -> list[Customer]:
        raise TimeoutError  # an adapter's own time limit, not the budget's


async def test_an_adapter_that_times_out_itself_is_unavailable() -> None:
    outcome = await lookup_within_budget(TimesOut(), "phone", "5551234567", 0.3, concurrency=LOOP)
    assert outcome.status is LookupStatus.UNAVAILABLE
    assert outcome.reason == "no answer within 0.3 s"


async def test_within_a_shorter_budget_a_stalled_crm_ends_at_the_budget_with_no_verdict() -> None:
    # The budget ends the caller's wait, not the read (it goes on to the CRM's own
    # deadline, for the pop): a caller that stopped waiting says nothing about the CRM.
    inner = Stalled(stall_find=True, stall_cases=False)
    breaker = CircuitBreaker(failures=1, reset_s=30)
    crm = ResilientCrm(inner, breaker=breaker, timeout_s=5.0)
    outcome = await lookup_within_budget(crm, "phone", "5551234567", 0.05, concurrency=LOOP)
    assert outcome.status is LookupStatus.UNAVAILABLE
    assert outcome.reason == "no answer within 0.05 s"
    assert breaker.state is BreakerState.CLOSED
    await crm.aclose()


async def test_within_a_longer_budget_the_crm_timeout_fires_and_counts_as_a_failure() -> None:
    inner = Stalled(stall_find=True, stall_cases=False)
    breaker = CircuitBreaker(failures=1, reset_s=30)
    crm = ResilientCrm(inner, breaker=breaker, timeout_s=0.05)
    outcome = await lookup_within_budget(crm, "phone", "5551234567", 5.0, concurrency=LOOP)
    assert outcome.status is LookupStatus.UNAVAILABLE
    assert (outcome.failure, outcome.reason) == (
        "timeout",
        "find by phone: no answer within 0.05 s",
    )
    assert breaker.state is BreakerState.OPEN


async def test_outside_a_lookup_the_crm_timeout_applies() -> None:
    crm = ResilientCrm(Stalled(stall_find=True, stall_cases=False), timeout_s=0.05)
    with pytest.raises(CrmTimeout, match=r"no answer within 0\.05 s"):
        await crm.find_by_phone("5551234567")


class CasesCounted(InMemoryCrm):
    """Counts the open-cases reads; each waits for `cases_gate` when one is given."""

    def __init__(self, cases_gate: asyncio.Event | None = None) -> None:
        super().__init__()
        self.cases_gate = cases_gate
        self.case_reads = 0

    async def open_cases(self, customer_id: str) -> list[Case]:
        self.case_reads += 1
        if self.cases_gate is not None:
            await self.cases_gate.wait()
        return await super().open_cases(customer_id)


async def test_the_open_cases_of_the_one_customer_found_are_read_before_anyone_asks() -> None:
    inner = CasesCounted()
    ada = _ada(inner)
    crm = ResilientCrm(inner, clock=Clock())
    assert [c.id for c in await crm.find_by_phone("5551234567")] == [ada.id]
    await asyncio.sleep(0.01)
    assert inner.case_reads == 1  # nobody asked yet
    assert [c.subject for c in await crm.open_cases(ada.id)] == ["Router"]
    assert inner.case_reads == 1  # asked next: that read's answer


async def test_a_find_does_not_wait_for_the_open_cases_it_reads_ahead() -> None:
    gate = asyncio.Event()
    inner = CasesCounted(cases_gate=gate)
    ada = _ada(inner)
    crm = ResilientCrm(inner, clock=Clock())
    async with asyncio.timeout(5):  # the cases never come until the gate opens
        assert [c.id for c in await crm.find_by_phone("5551234567")] == [ada.id]
    assert inner.case_reads == 1  # in flight
    asking = asyncio.create_task(crm.open_cases(ada.id))  # joins it
    gate.set()
    assert [c.subject for c in await asking] == ["Router"]
    assert inner.case_reads == 1


async def test_a_find_of_several_customers_reads_no_cases_ahead() -> None:
    inner = CasesCounted()
    _ada(inner)
    inner.add_customer(CustomerDraft("Bea", phones=("5551234567",)))
    crm = ResilientCrm(inner, clock=Clock())
    assert len(await crm.find_by_phone("5551234567")) == 2
    await asyncio.sleep(0.01)
    assert inner.case_reads == 0
