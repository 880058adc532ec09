"""The CRM port: the types the rest of callpop sees and the adapter protocol.

Everything outside `crm_adapter/` codes against this module only: the IVR's lookups
(through `callpop/services.py`), the screen-pop (customer, cases, interactions) and
the disposition write-back. Adapters (the SQL store, the REST CRM) map their own
failures onto the error tree below at their edge, the way httpx maps httpcore's
errors, so no caller ever catches an aiohttp or SQLAlchemy exception:

    CrmError
     ├── CrmUnavailable        the CRM cannot answer now; try later, or go on without it
     │    ├── CrmTimeout       the time budget ran out
     │    ├── CircuitOpen      recent calls failed; we are not even asking
     │    └── CrmBadResponse   it answered, but not something we can read
     ├── CrmRejected           the CRM refused the request (retrying will not help)
     └── NotFound              the record does not exist

Identifiers are strings whatever the backend (the SQL store's integers, a REST
CRM's UUIDs); phone numbers are E.164 (`+15551234567`) once inside a `Customer`.
Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from crm_adapter.phone import PhoneNormaliser

__all__ = [
    "CASE_STATUSES",
    "Case",
    "CaseStatus",
    "CircuitOpen",
    "CrmAdapter",
    "CrmBadResponse",
    "CrmError",
    "CrmRejected",
    "CrmTimeout",
    "CrmUnavailable",
    "Customer",
    "CustomerDirectory",
    "CustomerDraft",
    "InMemoryCrm",
    "Interaction",
    "InteractionLog",
    "InteractionUpdate",
    "NotFound",
    "PinCheck",
    "customer_view",
]


# --- errors -------------------------------------------------------------------------


class CrmError(Exception):
    """Base of every error an adapter raises."""


class CrmUnavailable(CrmError):
    """The CRM cannot answer now (down, slow, failing): the IVR goes on without it."""


class CrmTimeout(CrmUnavailable):
    """The call's time budget ran out before the CRM answered."""


class CircuitOpen(CrmUnavailable):
    """The circuit breaker is open: recent calls failed, so this one was not attempted."""


class CrmBadResponse(CrmUnavailable):
    """The CRM answered with something unreadable (garbage, wrong types, too large)."""


class CrmRejected(CrmError):
    """The CRM refused the request (a 4xx, a constraint): retrying the same will not help."""

    status: int | None = None  # the HTTP status, when the CRM speaks HTTP


class NotFound(CrmError):
    """The record asked for by id does not exist."""


# --- types --------------------------------------------------------------------------

CaseStatus = Literal["open", "pending", "closed"]
CASE_STATUSES: tuple[CaseStatus, ...] = ("open", "pending", "closed")


def _check_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def _check_e164(phones: Sequence[str]) -> None:
    for phone in phones:
        if not (phone.startswith("+") and phone[1:].isdigit() and 3 <= len(phone) <= 16):
            raise ValueError(f"phones are E.164 inside callpop, got {phone!r}")


@dataclass(frozen=True, slots=True)
class Customer:
    """A CRM customer. `id` is the adapter's id; `external_id` the id in the system the
    record came from (an import, the integrator's CRM), when there is one."""

    id: str
    name: str
    phones: tuple[str, ...] = ()
    external_id: str | None = None
    account: str | None = None
    tier: str | None = None
    language: str | None = None
    email: str | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a customer needs an id")
        object.__setattr__(self, "phones", tuple(self.phones))
        _check_e164(self.phones)


@dataclass(frozen=True, slots=True)
class CustomerDraft:
    """A customer not stored yet (`create_customer`); phones may be in any spelling the
    adapter's phone rules accept, and are stored in E.164."""

    name: str
    phones: tuple[str, ...] = ()
    external_id: str | None = None
    account: str | None = None
    tier: str | None = None
    language: str | None = None
    email: str | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a customer needs a name")
        object.__setattr__(self, "phones", tuple(self.phones))


@dataclass(frozen=True, slots=True)
class Case:
    """A service case (ticket, complaint) of a customer."""

    id: str
    customer_id: str
    subject: str
    status: CaseStatus
    opened: datetime

    def __post_init__(self) -> None:
        if self.status not in CASE_STATUSES:
            raise ValueError(f"case status is one of {CASE_STATUSES}, got {self.status!r}")
        _check_aware("opened", self.opened)


@dataclass(frozen=True, slots=True)
class Interaction:
    """One call as the CRM records it; the call id ties it to the journey and the pop.

    `journey` is the IVR journey summary an agent reads ("Billing > Payment");
    `disposition` a code from `dialplan/dispositions.yaml`.
    """

    call_id: str
    started: datetime
    customer_id: str | None = None
    agent: str | None = None
    journey: str = ""
    disposition: str | None = None
    notes: str = ""
    ended: datetime | None = None

    def __post_init__(self) -> None:
        if not self.call_id:
            raise ValueError("an interaction needs its call id")
        _check_aware("started", self.started)
        _check_aware("ended", self.ended)


@dataclass(frozen=True, slots=True)
class InteractionUpdate:
    """What `update_interaction` changes; `None` leaves a field as it is."""

    customer_id: str | None = None
    agent: str | None = None
    disposition: str | None = None
    notes: str | None = None
    ended: datetime | None = None

    def __post_init__(self) -> None:
        _check_aware("ended", self.ended)

    def apply(self, interaction: Interaction) -> Interaction:
        changes = {
            name: value
            for name in ("customer_id", "agent", "disposition", "notes", "ended")
            if (value := getattr(self, name)) is not None
        }
        return replace(interaction, **changes)


class PinCheck(Enum):
    """What a PIN check said (`CustomerDirectory.verify_pin`)."""

    VERIFIED = "verified"
    WRONG = "wrong"
    LOCKED = "locked"
    """Too many wrong PINs in a row for this customer lately: not compared at all."""
    NO_PIN = "no_pin"
    """The customer has no PIN."""


# --- the protocol -------------------------------------------------------------------


@runtime_checkable
class CustomerDirectory(Protocol):
    """The customer half of a CRM: who is calling, and what is open for them.

    Lookups take the caller ID or account as the caller gave it: the adapter normalises
    phone numbers by its phone rules, and an unparseable number simply finds nobody.
    Several customers may share a number (a household, a switchboard): lookups return
    them all, best first.
    """

    async def find_by_phone(self, phone: str) -> list[Customer]: ...

    async def find_by_account(self, account: str) -> list[Customer]: ...

    async def get_customer(self, customer_id: str) -> Customer:
        """Raises `NotFound`."""
        ...

    async def create_customer(self, draft: CustomerDraft) -> Customer: ...

    async def open_cases(self, customer_id: str) -> list[Case]:
        """Cases not closed, newest first."""
        ...

    async def verify_pin(self, customer_id: str, pin: str) -> PinCheck:
        """Check a caller's PIN for this customer, counting wrong ones against the
        customer's lockout (crm_adapter/pins.py). Raises `NotFound`. The PIN is never
        logged, kept or put in an error message."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class InteractionLog(Protocol):
    """The call-record half of a CRM."""

    async def recent_interactions(self, customer_id: str, limit: int = 5) -> list[Interaction]:
        """Newest first."""
        ...

    async def get_interaction(self, call_id: str) -> Interaction:
        """Raises `NotFound`."""
        ...

    async def log_interaction(self, interaction: Interaction) -> None:
        """Record a call. Durable when it returns (a REST-backed CRM receives it later,
        through the outbox). Logging the same call id again replaces the record."""
        ...

    async def update_interaction(self, call_id: str, update: InteractionUpdate) -> Interaction:
        """Change a logged call (disposition, notes, end); raises `NotFound`."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class CrmAdapter(CustomerDirectory, InteractionLog, Protocol):
    """What callpop asks of a CRM: both halves. Every method raises only `CrmError`s."""


# --- the in-memory fake -------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _site_phone() -> PhoneNormaliser:
    # Imported when a CRM is built, not with the port: the classic AGI script reads the
    # port's types on every call and loads phonenumbers only for a lookup by phone.
    from crm_adapter.phone import PhoneNormaliser

    return PhoneNormaliser()


@dataclass
class InMemoryCrm:
    """A complete `CrmAdapter` in a few dicts, for other parts' tests.

    It keeps the real rules (phone normalisation, newest first, `NotFound`), and can
    be told to fail: `failure` is raised by every call while set (e.g.
    `CrmUnavailable("down")`), which is how a test plays a CRM outage.
    """

    phone: PhoneNormaliser = field(default_factory=_site_phone)
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
        customer = Customer(
            id=str(next(self._ids)),
            name=draft.name.strip(),
            phones=phones,
            external_id=draft.external_id,
            account=draft.account,
            tier=draft.tier,
            language=draft.language,
            email=draft.email,
            notes=draft.notes,
        )
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
        from crm_adapter.pins import hash_pin

        if customer_id not in self.customers:
            raise NotFound(f"no customer {customer_id!r}")
        self.pins[customer_id] = hash_pin(pin)
        self.pin_failures.pop(customer_id, None)

    async def verify_pin(self, customer_id: str, pin: str) -> PinCheck:
        import asyncio  # not on the classic script's path, which imports this module

        from crm_adapter.pins import lock_after, pin_matches

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


def customer_view(
    customer: Customer, open_cases: int | None = None
) -> Mapping[str, str | int | None]:
    """The flat view of a customer the IVR keeps (`LookupFinished.customer`)."""
    view: dict[str, str | int | None] = {
        "id": customer.id,
        "name": customer.name,
        "tier": customer.tier,
        "language": customer.language,
        "account": customer.account,
        "external_id": customer.external_id,
    }
    if open_cases is not None:
        view["open_cases"] = open_cases
    return view
