"""An in-memory `CrmAdapter` in a few dicts: the fake other parts' tests use, and
`callpop simulate`'s CRM.

It keeps the real rules (phone normalisation, newest first, `NotFound`, PIN hashing and
lock-out as the SQL store counts them), and can be told to fail. An adapter like the SQL
store and the REST CRM, beside the port rather than in it: the classic AGI script reads
the port's types on every call and needs none of this.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crm_adapter.phone import PhoneNormaliser
from crm_adapter.pins import hash_pin, lock_after, pin_matches
from crm_adapter.port import (
    Case,
    CaseStatus,
    CrmError,
    CrmRejected,
    Customer,
    CustomerDraft,
    Interaction,
    InteractionUpdate,
    NotFound,
    PinCheck,
)

__all__ = ["InMemoryCrm"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class InMemoryCrm:
    """A complete `CrmAdapter` in a few dicts, for other parts' tests.

    It keeps the real rules (phone normalisation, newest first, `NotFound`), and can
    be told to fail: `failure` is raised by every call while set (e.g.
    `CrmUnavailable("down")`), which is how a test plays a CRM outage.
    """

    phone: PhoneNormaliser = field(default_factory=PhoneNormaliser)
    failure: CrmError | None = None
    clock: Callable[[], datetime] = _utcnow
    customers: dict[str, Customer] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    interactions: dict[str, Interaction] = field(default_factory=dict)
    pins: dict[str, str] = field(default_factory=dict)
    """customer id -> argon2id hash (`set_pin`)."""
    pin_failures: dict[str, tuple[int, datetime | None]] = field(default_factory=dict)
    """customer id -> (wrong PINs in a row, locked until)."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add_customer(self, draft: CustomerDraft) -> Customer:
        """Synchronous seeding for tests."""
        self._fail()
        phones = tuple(dict.fromkeys(self._normalise_all(draft.phones)))
        customer = draft.stored(str(next(self._ids)), phones)
        self.customers[customer.id] = customer
        return customer

    def add_case(
        self,
        customer_id: str,
        subject: str,
        status: CaseStatus = "open",
        opened: datetime | None = None,
    ) -> Case:
        case = Case(
            id=str(next(self._ids)),
            customer_id=customer_id,
            subject=subject,
            status=status,
            opened=opened or self.clock(),
        )
        self.cases[case.id] = case
        return case

    def _fail(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _normalise_all(self, phones: Iterable[str]) -> list[str]:
        result = []
        for raw in phones:
            e164 = self.phone.normalise(raw)
            if e164 is None:
                raise CrmRejected(f"not a phone number: {raw!r}")
            result.append(e164)
        return result

    async def find_by_phone(self, phone: str) -> list[Customer]:
        self._fail()
        e164 = self.phone.normalise(phone)
        if e164 is None:
            return []
        return [c for c in self.customers.values() if e164 in c.phones]

    async def find_by_account(self, account: str) -> list[Customer]:
        self._fail()
        wanted = account.strip()
        return [c for c in self.customers.values() if wanted and c.account == wanted]

    async def get_customer(self, customer_id: str) -> Customer:
        self._fail()
        try:
            return self.customers[customer_id]
        except KeyError:
            raise NotFound(f"no customer {customer_id!r}") from None

    async def create_customer(self, draft: CustomerDraft) -> Customer:
        return self.add_customer(draft)

    async def open_cases(self, customer_id: str) -> list[Case]:
        self._fail()
        found = [
            c for c in self.cases.values() if c.customer_id == customer_id and c.status != "closed"
        ]
        return sorted(found, key=lambda c: c.opened, reverse=True)

    def set_pin(self, customer_id: str, pin: str) -> None:
        """Give the customer a PIN (hashed), clearing their count of wrong ones."""
        if customer_id not in self.customers:
            raise NotFound(f"no customer {customer_id!r}")
        self.pins[customer_id] = hash_pin(pin)
        self.pin_failures.pop(customer_id, None)

    async def verify_pin(self, customer_id: str, pin: str) -> PinCheck:
        self._fail()
        if customer_id not in self.customers:
            raise NotFound(f"no customer {customer_id!r}")
        pin_hash = self.pins.get(customer_id)
        if pin_hash is None:
            return PinCheck.NO_PIN
        now = self.clock()
        failures, locked_until = self.pin_failures.get(customer_id, (0, None))
        if locked_until is not None and now < locked_until:
            return PinCheck.LOCKED
        # The attempt counts before the comparison, as the SQL store's UPDATE does.
        failures += 1
        lock = lock_after(failures)
        self.pin_failures[customer_id] = (failures, None if lock is None else now + lock)
        if await asyncio.to_thread(pin_matches, pin_hash, pin):
            self.pin_failures.pop(customer_id, None)
            return PinCheck.VERIFIED
        return PinCheck.WRONG

    async def recent_interactions(self, customer_id: str, limit: int = 5) -> list[Interaction]:
        self._fail()
        found = [i for i in self.interactions.values() if i.customer_id == customer_id]
        return sorted(found, key=lambda i: i.started, reverse=True)[:limit]

    async def get_interaction(self, call_id: str) -> Interaction:
        self._fail()
        try:
            return self.interactions[call_id]
        except KeyError:
            raise NotFound(f"no interaction for call {call_id!r}") from None

    async def log_interaction(self, interaction: Interaction) -> None:
        self._fail()
        self.interactions[interaction.call_id] = interaction

    async def update_interaction(self, call_id: str, update: InteractionUpdate) -> Interaction:
        current = await self.get_interaction(call_id)
        updated = update.apply(current)
        self.interactions[call_id] = updated
        return updated

    async def aclose(self) -> None:
        return None
