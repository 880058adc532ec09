"""`ResilientCrm`: a customer directory behind a circuit breaker, a time limit and a
TTL cache.

Every call goes through the breaker; reads (the lookups, the customer, open cases)
are cached: a repeat caller costs the CRM nothing, and a CRM that keeps failing is
not asked at all until the breaker lets a trial through. Interactions are not its
business: they are written locally (the SQL store, with the outbox for an external
CRM), never refused by a breaker that is about someone else's server; `SplitCrm`
puts the two halves together.

Two time limits meet here, and only one of them is about the CRM. `timeout_s` is the
CRM's own deadline: a read not answered by then is `CrmTimeout`, a failure for the
breaker. A caller's budget (the IVR's `lookup_budget_ms`, the pop's window) is the
caller's business: a caller that stops waiting says nothing about the CRM. So each
read runs as one shared task, to its answer or to the CRM's deadline, whoever asked
for it: a caller cut at its budget leaves it running (shielded), its answer fills
the cache and gives the breaker its verdict, and whoever asks for the same record
meanwhile (the pop, after the IVR gave up on a 2 s CRM) waits for that same request
instead of sending another one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from crm_adapter.breaker import CircuitBreaker
from crm_adapter.cache import TtlCache
from crm_adapter.phone import PhoneNormaliser
from crm_adapter.port import (
    Case,
    CrmTimeout,
    Customer,
    CustomerDirectory,
    CustomerDraft,
    PinCheck,
)

__all__ = ["ResilientCrm"]

T = TypeVar("T")
Key = tuple[str, str]  # what a read reads: ("phone", e164), ("customer", id), ...


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
        # the reads in flight, by what they read: one request per record at a time
        self._reads: dict[Key, asyncio.Task[Any]] = {}

    async def _guarded(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        with self.breaker.call():
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await call()
            except TimeoutError:
                raise CrmTimeout(f"{what}: no answer within {self.timeout_s:g} s") from None

    async def _shared(self, key: Key, read: Coroutine[Any, Any, T]) -> T:
        """`read` as the one task in flight for `key`, awaited shielded: cancelling
        this caller (its budget ran out) leaves the read to finish for the others and
        for the cache, and to give the breaker its verdict."""
        task: asyncio.Task[T] | None = self._reads.get(key)
        if task is not None:
            read.close()  # never started: the read in flight answers this caller too
        else:
            task = self._start(key, read)
        return await asyncio.shield(task)

    def _start(self, key: Key, read: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(read, name=f"crm-read-{key[0]}")
        self._reads[key] = task
        task.add_done_callback(lambda done: self._settled(key, done))
        return task

    def _settled(self, key: Key, task: asyncio.Task[Any]) -> None:
        if self._reads.get(key) is task:
            del self._reads[key]
        if not task.cancelled():
            # its waiters may all have left: the failure was counted by the breaker,
            # it need not be reported again as a task nobody awaited
            task.exception()

    def _current(self, key: Key) -> bool:
        """Whether the running read is still the one for `key` (a customer created
        meanwhile drops it: its answer is returned, not cached)."""
        return self._reads.get(key) is asyncio.current_task()

    def _remember(self, customers: tuple[Customer, ...]) -> None:
        for customer in customers:
            self.customers.put(customer.id, customer)

    async def _find(
        self, key: Key, call: Callable[[], Awaitable[list[Customer]]], what: str
    ) -> tuple[Customer, ...]:
        found = tuple(await self._guarded(call, what))
        if self._current(key):
            self.lookups.put(key, found)
            self._remember(found)
        if len(found) == 1:
            self._read_cases_ahead(found[0].id)
        return found

    def _read_cases_ahead(self, customer_id: str) -> None:
        """Start reading the open cases of the one customer a lookup found: whoever
        looked (the IVR's lookup, the pop) asks for them next, and finds them read or in
        flight, instead of starting a read of its own once this one's answer has reached
        it (a task costs turns of the loop: on one holding thousands of calls, each a few
        milliseconds). The find's answer does not wait for them."""
        key = ("cases", customer_id)
        hit, _cached = self.cases.get(customer_id)
        if not hit and key not in self._reads:
            self._start(key, self._open_cases(key, customer_id))

    async def find_by_phone(self, phone: str) -> list[Customer]:
        e164 = self.phone.normalise(phone)
        if e164 is None:
            return []  # nobody has that number: no need to ask
        key = ("phone", e164)
        hit, cached = self.lookups.get(key)
        if hit and cached is not None:
            return list(cached)
        read = self._find(key, lambda: self.inner.find_by_phone(e164), "find by phone")
        return list(await self._shared(key, read))

    async def find_by_account(self, account: str) -> list[Customer]:
        wanted = account.strip()
        if not wanted:
            return []
        key = ("account", wanted)
        hit, cached = self.lookups.get(key)
        if hit and cached is not None:
            return list(cached)
        read = self._find(key, lambda: self.inner.find_by_account(wanted), "find by account")
        return list(await self._shared(key, read))

    async def get_customer(self, customer_id: str) -> Customer:
        hit, cached = self.customers.get(customer_id)
        if hit and cached is not None:
            return cached
        key = ("customer", customer_id)
        return await self._shared(key, self._get_customer(key, customer_id))

    async def _get_customer(self, key: Key, customer_id: str) -> Customer:
        customer = await self._guarded(lambda: self.inner.get_customer(customer_id), "get customer")
        if self._current(key):
            self.customers.put(customer.id, customer)
        return customer

    async def create_customer(self, draft: CustomerDraft) -> Customer:
        customer = await self._guarded(lambda: self.inner.create_customer(draft), "create customer")
        # A lookup that found nobody a moment ago would now be wrong, and so would the
        # answer of one still in flight: dropped, it is not cached when it comes.
        for e164 in customer.phones:
            self._forget(("phone", e164))
        if customer.account:
            self._forget(("account", customer.account))
        return customer

    def _forget(self, key: Key) -> None:
        self.lookups.invalidate(key)
        self._reads.pop(key, None)

    async def open_cases(self, customer_id: str) -> list[Case]:
        hit, cached = self.cases.get(customer_id)
        if hit and cached is not None:
            return list(cached)
        key = ("cases", customer_id)
        return list(await self._shared(key, self._open_cases(key, customer_id)))

    async def _open_cases(self, key: Key, customer_id: str) -> tuple[Case, ...]:
        found = tuple(await self._guarded(lambda: self.inner.open_cases(customer_id), "open cases"))
        if self._current(key):
            self.cases.put(customer_id, found)
        return found

    async def verify_pin(self, customer_id: str, pin: str) -> PinCheck:
        """Through the breaker and the CRM's deadline, and nothing else: an answer about
        a secret is never cached, and never shared with another caller's check."""
        return await self._guarded(lambda: self.inner.verify_pin(customer_id, pin), "verify pin")

    async def aclose(self) -> None:
        reads = list(self._reads.values())
        for task in reads:
            task.cancel()
        await asyncio.gather(*reads, return_exceptions=True)
        await self.inner.aclose()
