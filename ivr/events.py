"""What happens to a call, fed into a `Session`: the engine's inputs.

Events are frozen, slotted and validated when built (h11's `_events.py`): a
`DigitsEntered` with a letter in it cannot exist. Times are milliseconds since the
call started, measured by whoever drives the session; the engine never reads a clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType

__all__ = [
    "FAULT_CAUSES",
    "CallStarted",
    "CallbackRequested",
    "CallbackStatus",
    "Caller",
    "CustomerValue",
    "DigitsEntered",
    "Event",
    "FloodLooked",
    "HungUp",
    "LookupFinished",
    "LookupStatus",
    "PinChecked",
    "PinStatus",
    "PlayFinished",
    "QueueValue",
    "QueuesLooked",
]

_KEYS = re.compile(r"^[0-9*#]*$")

CustomerValue = str | int | float | bool | None


def _check_keys(keys: str, what: str) -> None:
    if not _KEYS.match(keys):
        raise ValueError(f"{what} may hold only 0-9, * and #, got {keys!r}")


def _check_at(at_ms: int) -> None:
    if at_ms < 0:
        raise ValueError("at_ms is milliseconds since the call started and cannot be negative")


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller ID as the PBX gave it (raw, untrusted text)."""

    number: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class CallStarted:
    """The first event of every session.

    `now` is the wall-clock time of the call (timezone-aware); `hours` nodes use it.
    `variables` are channel variables the driver chose to pass in (e.g. language).
    """

    call_id: str
    caller: Caller
    now: datetime
    dnis: str = ""
    channel: str = ""
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    at_ms: int = 0

    def __post_init__(self) -> None:
        if not self.call_id:
            raise ValueError("a call needs a call id")
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        _check_at(self.at_ms)
        object.__setattr__(self, "variables", MappingProxyType(dict(self.variables)))


@dataclass(frozen=True, slots=True)
class PlayFinished:
    """The prompts of a `Play` finished, or a key stopped them; `keys` were pressed meanwhile
    and become type-ahead for the next node that listens."""

    at_ms: int
    keys: str = ""

    def __post_init__(self) -> None:
        _check_keys(self.keys, "keys")
        _check_at(self.at_ms)


@dataclass(frozen=True, slots=True)
class DigitsEntered:
    """The answer to a `Collect`.

    `timed_out` tells silence from a terminator: AGI's `200 result= (timeout)` is
    `DigitsEntered("", timed_out=True)`, while `#` alone (`200 result=`) is
    `DigitsEntered("", timed_out=False)` — a caller asking to repeat is not silence.
    A terminator is never part of `digits`.
    """

    digits: str
    at_ms: int
    timed_out: bool = False

    def __post_init__(self) -> None:
        _check_keys(self.digits, "digits")
        _check_at(self.at_ms)


class LookupStatus(Enum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class LookupFinished:
    """The answer to a `Lookup` (or a `CheckPin`). `customer` is a flat view of the
    matched record (`id`, `name`, `tier`, `language`, `account`, `open_cases`, ...) when
    exactly one matched; `matches` counts the records found and `candidates` holds their
    ids (several customers may share a number: then there is no `customer`, and the
    engine routes on none of them)."""

    status: LookupStatus
    at_ms: int
    customer: Mapping[str, CustomerValue] | None = None
    matches: int = 0
    candidates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_at(self.at_ms)
        if self.status is LookupStatus.FOUND and self.customer is None and self.matches < 2:
            raise ValueError("a found lookup carries the customer, or several candidates")
        object.__setattr__(self, "candidates", tuple(self.candidates))
        if self.customer is not None:
            object.__setattr__(self, "customer", MappingProxyType(dict(self.customer)))


QueueValue = int | bool | None


@dataclass(frozen=True, slots=True)
class QueuesLooked:
    """The answer to a `QueueLookup`: each known queue's fields (`ivr.conditions.
    QUEUE_FIELDS`); a queue the services do not know or could not read is absent."""

    at_ms: int
    queues: Mapping[str, Mapping[str, QueueValue]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_at(self.at_ms)
        frozen = {name: MappingProxyType(dict(f)) for name, f in self.queues.items()}
        object.__setattr__(self, "queues", MappingProxyType(frozen))


class CallbackStatus(Enum):
    STORED = "stored"
    INVALID_NUMBER = "invalid_number"
    """The number cannot be called back (not a possible number of the site's region)."""
    UNAVAILABLE = "unavailable"
    """The store did not answer within the budget: the caller keeps their line."""


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    """The answer to a `CallbackRequest`: stored with the caller's 1-based `position`
    among the queue's pending callbacks (`number` as stored, E.164), or why not."""

    status: CallbackStatus
    at_ms: int
    position: int | None = None
    number: str = ""

    def __post_init__(self) -> None:
        _check_at(self.at_ms)
        if (self.status is CallbackStatus.STORED) != (self.position is not None):
            raise ValueError("a stored callback has a position, and only a stored one")
        if self.position is not None and self.position < 1:
            raise ValueError("a callback position is 1-based")


@dataclass(frozen=True, slots=True)
class FloodLooked:
    """The answer to a `FloodLookup`: whether flood mode is on, and its message name."""

    at_ms: int
    active: bool = False
    message: str = ""

    def __post_init__(self) -> None:
        _check_at(self.at_ms)


class PinStatus(Enum):
    VERIFIED = "verified"
    WRONG = "wrong"
    LOCKED = "locked"
    """Too many wrong PINs for this customer lately: the CRM did not compare it."""
    NO_PIN = "no_pin"
    UNAVAILABLE = "unavailable"
    """The CRM failed, or did not answer within the budget."""


@dataclass(frozen=True, slots=True)
class PinChecked:
    """The answer to a `CheckPin`."""

    status: PinStatus
    at_ms: int

    def __post_init__(self) -> None:
        _check_at(self.at_ms)


# Causes of a lost channel that are callpop's or the link's fault rather than the
# caller's: journeys count them apart (`ivr.journey.lost_outcome`: a `timeout` or
# `protocol-error` outcome, `channel-connection-lost` ...) so a broken link or a peer
# speaking garbage shows up in analytics instead of passing for callers leaving.
FAULT_CAUSES = frozenset(
    {"timeout", "protocol-error", "connection-lost", "cancelled", "left-stasis"}
)


@dataclass(frozen=True, slots=True)
class HungUp:
    """The caller hung up (or the channel died). Always the last event.

    `cause` is the driver's word for it: `caller` or a hang-up cause for the caller
    leaving, one of `FAULT_CAUSES` for a channel lost to a fault."""

    at_ms: int
    cause: str = "caller"

    def __post_init__(self) -> None:
        _check_at(self.at_ms)


Event = (
    CallStarted
    | PlayFinished
    | DigitsEntered
    | LookupFinished
    | QueuesLooked
    | CallbackRequested
    | FloodLooked
    | PinChecked
    | HungUp
)
