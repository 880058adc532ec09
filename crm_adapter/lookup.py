"""The IVR's lookup: an answer within the budget, always.

`lookup_within_budget` never raises (cancellation aside) and never waits past its
budget: a slow, failing or broken CRM, and even a bug in an adapter, is
`LookupStatus.UNAVAILABLE`, and the flow goes on (design.md: a slow CRM must never
stall a caller). The open-case count is a bonus: if the customer was found but
the cases do not arrive in time, the lookup is still `FOUND`, without the count.

The budget is kept by the caller's `Concurrency` (`concurrency=`): the event loop's
timeout in `serve`, nothing in the classic script, which has no loop and reads SQLite
synchronously (a read there cannot be cut short; SQLite's busy timeout bounds its wait).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from crm_adapter.port import (
    Case,
    CircuitOpen,
    CrmBadResponse,
    CrmError,
    CrmRejected,
    CrmTimeout,
    CrmUnavailable,
    Customer,
    NotFound,
    PinCheck,
    customer_view,
)
from ivr.events import CustomerValue, LookupFinished, LookupStatus, PinStatus
from ivr.ports import Concurrency

__all__ = [
    "BREAKER_OPEN",
    "CustomerLookups",
    "LookupOutcome",
    "PinChecks",
    "failure_kind",
    "lookup_within_budget",
    "pin_within_budget",
]

BREAKER_OPEN = "circuit open"

log = logging.getLogger("callpop.crm")


class CustomerLookups(Protocol):
    """What the IVR's lookup asks of a directory (a `CustomerDirectory` has it all)."""

    async def find_by_phone(self, phone: str) -> list[Customer]: ...

    async def find_by_account(self, account: str) -> list[Customer]: ...

    async def open_cases(self, customer_id: str) -> list[Case]: ...


class PinChecks(Protocol):
    """What the IVR's PIN check asks of a directory."""

    async def verify_pin(self, customer_id: str, pin: str) -> PinCheck: ...


_PIN_STATUS = {
    PinCheck.VERIFIED: PinStatus.VERIFIED,
    PinCheck.WRONG: PinStatus.WRONG,
    PinCheck.LOCKED: PinStatus.LOCKED,
    PinCheck.NO_PIN: PinStatus.NO_PIN,
}


async def pin_within_budget(
    crm: PinChecks,
    customer_id: str,
    pin: str,
    budget_s: float,
    *,
    concurrency: Concurrency,
) -> tuple[PinStatus, str]:
    """The CRM's answer to a PIN check within the budget, and what failed (`""`, or a
    `failure_kind` for the log): never raises (cancellation aside), never waits past
    the budget. A customer the CRM no longer knows has no PIN. The PIN itself appears
    in nothing this returns or logs."""
    try:
        async with concurrency.within(budget_s):
            check = await crm.verify_pin(customer_id, pin)
    except TimeoutError:
        return PinStatus.UNAVAILABLE, "timeout"
    except NotFound:
        return PinStatus.NO_PIN, ""
    except CrmError as exc:
        return PinStatus.UNAVAILABLE, failure_kind(exc)
    except Exception as exc:
        log.error("crm PIN check failed unexpectedly: %s", type(exc).__name__)
        return PinStatus.UNAVAILABLE, "bug"
    return _PIN_STATUS[check], ""


@dataclass(frozen=True, slots=True)
class LookupOutcome:
    status: LookupStatus
    customer: Customer | None = None  # the match, when exactly one
    matches: int = 0
    open_cases: int | None = None
    candidates: tuple[str, ...] = ()  # the ids of every match, best first
    reason: str = ""  # why it is unavailable, for logs and metrics
    failure: str = ""  # what kind of failure (`failure_kind`): logged once per change

    def view(self) -> Mapping[str, CustomerValue] | None:
        if self.customer is None:
            return None
        return customer_view(self.customer, self.open_cases)

    def finished(self, at_ms: int) -> LookupFinished:
        """The engine's event for this outcome."""
        return LookupFinished(
            self.status,
            at_ms,
            customer=self.view(),
            matches=self.matches,
            candidates=self.candidates,
        )


def failure_kind(exc: CrmError) -> str:
    """A short name for what failed, the same for every lookup failing the same way."""
    if isinstance(exc, CircuitOpen):
        return BREAKER_OPEN
    if isinstance(exc, CrmTimeout):
        return "timeout"
    if isinstance(exc, CrmBadResponse):
        return "bad answer"
    if isinstance(exc, CrmUnavailable):
        return "unavailable"
    if isinstance(exc, CrmRejected):
        return f"HTTP {exc.status}" if exc.status is not None else "refused"
    return type(exc).__name__


async def lookup_within_budget(
    crm: CustomerLookups,
    by: Literal["phone", "account"],
    value: str,
    budget_s: float,
    *,
    concurrency: Concurrency,
) -> LookupOutcome:
    found: list[Customer] | None = None
    open_cases: int | None = None
    try:
        # One timer for both reads (each costs a timer handle on the loop): the cases
        # get what is left of the budget once the customer is found.
        async with concurrency.within(budget_s):
            try:
                if by == "phone":
                    found = await crm.find_by_phone(value)
                else:
                    found = await crm.find_by_account(value)
            except TimeoutError:
                raise
            except CrmError as exc:
                return LookupOutcome(
                    LookupStatus.UNAVAILABLE, reason=str(exc), failure=failure_kind(exc)
                )
            except Exception as exc:
                log.exception("crm lookup failed unexpectedly by=%s", by)
                return LookupOutcome(
                    LookupStatus.UNAVAILABLE, reason=f"bug: {type(exc).__name__}", failure="bug"
                )
            if found is not None and len(found) == 1:
                # Several candidates: the IVR routes on none of them, so no cases.
                try:
                    open_cases = len(await crm.open_cases(found[0].id))
                except (TimeoutError, CrmError):
                    pass
                except Exception:
                    log.exception("crm open cases failed unexpectedly")
    except TimeoutError:
        if found is None:
            return LookupOutcome(
                LookupStatus.UNAVAILABLE,
                reason=f"no answer within {budget_s:g} s",
                failure="timeout",
            )
    if not found:
        return LookupOutcome(LookupStatus.NOT_FOUND)
    return LookupOutcome(
        LookupStatus.FOUND,
        customer=found[0] if len(found) == 1 else None,
        matches=len(found),
        open_cases=open_cases,
        candidates=tuple(c.id for c in found),
    )
