"""What the IVR needs from the rest of callpop, as Protocols the drivers are handed.

`ivr` imports nothing from `crm_adapter`, `screenpop` or `callpop`: the composition
root (`callpop/services.py`) builds a `CallServices` from them and gives it to each
driver; each driver implements `Channel` for its protocol and nothing else of the IVR.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ivr.actions import CallbackRequest, Collect, Play, Spoken
from ivr.events import (
    CallbackRequested,
    DigitsEntered,
    FloodLooked,
    LookupFinished,
    PinChecked,
    QueuesLooked,
)
from ivr.journey import Journey

__all__ = ["CallEvent", "CallServices", "Channel", "ChannelGone", "Concurrency"]


class ChannelGone(Exception):
    """The caller hung up or the channel died: raised by any `Channel` method."""

    def __init__(self, cause: str = "caller") -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A call event before the bus gives it a `seq` (design.md, "Call events").

    `type` is e.g. `ivr.started`, `ivr.node`, `ivr.ended`; `at` is an ISO 8601 UTC
    timestamp with milliseconds, stamped by whoever owns the clock (the runner).
    """

    type: str
    call_id: str
    at: str
    data: Mapping[str, Any] = field(default_factory=dict)


class CallServices(Protocol):
    """Everything a running IVR call needs besides its channel."""

    async def lookup(
        self, by: Literal["phone", "account"], value: str, *, at_ms: int
    ) -> LookupFinished:
        """Ask the CRM within the lookup budget; never raises, never waits past the budget
        (a slow or failed CRM is `LookupStatus.UNAVAILABLE`)."""
        ...

    async def queue_state(self, queues: tuple[str, ...], *, at_ms: int) -> QueuesLooked:
        """The state of these queues (`queue.Q.X`), within the lookup budget; never
        raises: state it could not read fresh is the last it knew, or absent."""
        ...

    async def flood_state(self, *, at_ms: int) -> FloodLooked:
        """Whether flood mode is on and its message, within the lookup budget; never
        raises: the last value read when the store is slow or down (off if never read)."""
        ...

    async def request_callback(
        self, request: CallbackRequest, *, call_id: str, at_ms: int
    ) -> CallbackRequested:
        """Validate the number for the site's region and store the request (idempotent
        per call id), within the lookup budget; never raises: a store that fails or is
        too slow is `CallbackStatus.UNAVAILABLE` (the caller keeps their line)."""
        ...

    async def verify_pin(self, customer_id: str, pin: str, *, at_ms: int) -> PinChecked:
        """Ask the CRM whether `pin` is the customer's PIN, within the PIN budget; never
        raises: a CRM that fails or is too slow is `PinStatus.UNAVAILABLE`. The PIN is
        never logged, published or stored."""
        ...

    def publish(self, event: CallEvent) -> None:
        """Hand a call event to the pop bus: synchronous, never waits and never raises
        (a bus that cannot take it now buffers or drops it and says so in its logs and
        metrics; the caller is served whatever happens to the bus)."""
        ...

    async def save_journey(self, journey: Journey, data: Mapping[str, Any]) -> None:
        """Store the finished journey, keyed by its call id; `data` is its `to_dict()`,
        made once by the runner for this and for `ivr.ended`. May return before the
        journey is written (`serve` writes in batches off the call's path), and waits
        only when the writer is too far behind."""
        ...


class Concurrency(Protocol):
    """What the runner needs of the way its driver waits: a bound on a wait, and work
    that goes on while the caller listens. On an event loop (`ivr.loop_concurrency`)
    these are asyncio's; the classic script, a process per call, has no loop and
    waits in its own blocking reads (`ivr.sequential`), so that it need not load
    asyncio on every call."""

    def within(self, seconds: float) -> AbstractAsyncContextManager[object]:
        """Bound what runs inside to `seconds` (`TimeoutError` past them), where a
        wait can be cut short at all."""
        ...

    def alongside(self, work: Coroutine[Any, Any, None]) -> Awaitable[None]:
        """Start `work`; awaiting the result has it done (its error raised there)."""
        ...


class Channel(Protocol):
    """One caller's channel, as a driver (FastAGI, AGI script, ARI, simulator) sees it.

    Every method raises `ChannelGone` once the caller has hung up.
    """

    @property
    def concurrency(self) -> Concurrency:
        """How this channel's driver waits (on an event loop, or in blocking reads)."""
        ...

    async def play(self, play: Play) -> str:
        """Play the prompts; return the keys pressed (interrupting if allowed)."""
        ...

    async def collect(self, collect: Collect) -> DigitsEntered:
        """Play the prompts and collect digits as `Collect` describes."""
        ...

    async def say(self, prompts: tuple[Spoken, ...]) -> None:
        """Play prompts that no key can stop (before a transfer or hang-up)."""
        ...

    async def set_variables(self, variables: tuple[tuple[str, str], ...]) -> None:
        """Set channel variables on the caller's channel."""
        ...

    async def finish(self, *, hangup: bool) -> None:
        """Leave the IVR: return to the dialplan (`continue`), or hang up."""
        ...
