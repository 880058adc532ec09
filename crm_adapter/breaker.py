"""A circuit breaker: after repeated failures, stop asking a CRM that is not answering.

Sans-I/O: it reads an injected monotonic clock and is told what happened; it never
waits. Closed, it lets calls through and counts failures in a row; at `failures` it
opens and refuses every call (`CircuitOpen`, at once: the IVR plays on instead of
waiting out a timeout per caller). After `reset_s` it lets one trial call through
(half-open): success closes it, failure opens it for another `reset_s`.

Only "the CRM could not answer" counts as a failure (`CrmUnavailable`, timeouts):
a `NotFound` or `CrmRejected` is the CRM answering.

`on_change(name, state, failures, reset_s)` is told when it opens (from closed) and
when it closes again: a trial that fails re-opens an open breaker, no change to tell.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum
from types import TracebackType

from crm_adapter.port import CircuitOpen, CrmError, CrmUnavailable

OnChange = Callable[[str, "BreakerState", int, float], None]

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failures: int = 5,
        reset_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "crm",
        on_change: OnChange | None = None,
    ) -> None:
        if failures < 1 or reset_s <= 0:
            raise ValueError("a breaker needs failures >= 1 and reset_s > 0")
        self.threshold = failures
        self.reset_s = reset_s
        self.name = name
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial call is in flight
        self._on_change = on_change

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> None:
        """Raise `CircuitOpen` unless a call may go out now (reserving the trial)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._trial:
            self._trial = True
            return
        raise CircuitOpen(f"{self.name}: circuit open after {self._failures} failures in a row")

    def success(self) -> None:
        was_open = self._opened_at is not None
        self._failures = 0
        self._opened_at = None
        self._trial = False
        if was_open and self._on_change is not None:
            self._on_change(self.name, BreakerState.CLOSED, 0, self.reset_s)

    def failure(self) -> None:
        self._failures += 1
        was_open = self._opened_at is not None
        if self._trial or self._failures >= self.threshold:
            self._opened_at = self._clock()
            if not was_open and self._on_change is not None:
                self._on_change(self.name, BreakerState.OPEN, self._failures, self.reset_s)
        self._trial = False

    def release(self) -> None:
        """A call ended with no verdict (cancelled): free the trial slot."""
        self._trial = False

    def call(self) -> _Call:
        """`with breaker.call(): ...` around one call to the CRM."""
        return _Call(self)


class _Call:
    """One call through the breaker. A class, not `@contextmanager`: it is around every
    CRM read, and a generator costs three times as much."""

    __slots__ = ("_breaker",)

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker

    def __enter__(self) -> None:
        self._breaker.allow()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self._breaker.success()
        elif issubclass(kind, CrmUnavailable):
            self._breaker.failure()
        elif issubclass(kind, CrmError):
            self._breaker.success()  # NotFound, CrmRejected: the CRM did answer
        else:
            self._breaker.release()  # cancelled, or our own bug: no verdict on the CRM
