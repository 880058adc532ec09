"""`ResilientCrm`: a customer directory behind a circuit breaker, a time limit and a
TTL cache.

Every call goes through the breaker; reads (the lookups, the customer, open cases)
are cached: a repeat caller costs the CRM nothing, and a CRM that keeps failing is
not asked at all until the breaker lets a trial through. Interactions are not its
business: they are written locally (the SQL store, with the outbox for an external
CRM), never refused by a breaker that is about someone else's server; `SplitCrm`
puts the two halves together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from crm_adapter.breaker import CircuitBreaker
from crm_adapter.cache import TtlCache
from crm_adapter.phone import PhoneNormaliser
from crm_adapter.port import (
    Case,
    CrmTimeout,
    Customer,
    CustomerDirectory,
    CustomerDraft,
)

__all__ = ["ResilientCrm"]

T = TypeVar("T")


class ResilientCrm:
    def __init__(
        self,
        inner: CustomerDirectory,
        *,
        phone: PhoneNormaliser | None = None,
        breaker: CircuitBreaker | None = None,
        cache_ttl_s: float = 60.0,
        cache_size: int = 10_000,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.phone = phone or PhoneNormaliser()
        self.breaker = breaker or CircuitBreaker(clock=clock)
        self.lookups: TtlCache[tuple[Customer, ...]] = TtlCache(cache_ttl_s, cache_size, clock)
        self.customers: TtlCache[Customer] = TtlCache(cache_ttl_s, cache_size, clock)
        self.cases: TtlCache[tuple[Case, ...]] = TtlCache(cache_ttl_s, cache_size, clock)
        self.timeout_s = timeout_s

    async def _guarded(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        with self.breaker.call():
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await call()
            except TimeoutError:
                raise CrmTimeout(f"{what}: no answer within {self.timeout_s:g} s") from None

    def _remember(self, customers: list[Customer]) -> None:
        for customer in customers:
            self.customers.put(customer.id, customer)

    async def find_by_phone(self, phone: str) -> list[Customer]:
        e164 = self.phone.normalise(phone)
        if e164 is None:
            return []  # nobody has that number: no need to ask
        key = ("phone", e164)
        hit, cached = self.lookups.get(key)
        if hit and cached is not None:
            return list(cached)
        found = await self._guarded(lambda: self.inner.find_by_phone(e164), "find by phone")
        self.lookups.put(key, tuple(found))
        self._remember(found)
        return list(found)

    async def find_by_account(self, account: str) -> list[Customer]:
        wanted = account.strip()
        if not wanted:
            return []
        key = ("account", wanted)
        hit, cached = self.lookups.get(key)
        if hit and cached is not None:
            return list(cached)
        found = await self._guarded(lambda: self.inner.find_by_account(wanted), "find by account")
        self.lookups.put(key, tuple(found))
        self._remember(found)
        return list(found)

    async def get_customer(self, customer_id: str) -> Customer:
        hit, cached = self.customers.get(customer_id)
        if hit and cached is not None:
            return cached
        customer = await self._guarded(lambda: self.inner.get_customer(customer_id), "get customer")
        self._remember([customer])
        return customer

    async def create_customer(self, draft: CustomerDraft) -> Customer:
        customer = await self._guarded(lambda: self.inner.create_customer(draft), "create customer")
        # A lookup that found nobody a moment ago would now be wrong.
        for e164 in customer.phones:
            self.lookups.invalidate(("phone", e164))
        if customer.account:
            self.lookups.invalidate(("account", customer.account))
        return customer

    async def open_cases(self, customer_id: str) -> list[Case]:
        hit, cached = self.cases.get(customer_id)
        if hit and cached is not None:
            return list(cached)
        found = await self._guarded(lambda: self.inner.open_cases(customer_id), "open cases")
        self.cases.put(customer_id, tuple(found))
        return list(found)

    async def aclose(self) -> None:
        await self.inner.aclose()
