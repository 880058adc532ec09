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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Literal, Protocol, runtime_checkable

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

    def stored(self, customer_id: str, phones: tuple[str, ...]) -> Customer:
        """The customer this draft became, once an adapter stored it under `customer_id`
        with `phones` (its own, normalised to E.164)."""
        return Customer(
            id=customer_id,
            name=self.name.strip(),
            phones=phones,
            external_id=self.external_id,
            account=self.account,
            tier=self.tier,
            language=self.language,
            email=self.email,
            notes=self.notes,
        )


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
