"""What the IVR's CRM lookups and the circuit breaker are going through, logged once
per change of state (design.md: no log storms).

A lookup that fails is still answered (`LookupStatus.UNAVAILABLE`, the flow takes its
`unavailable` branch), so a CRM that is down, slow, refusing our token or sending
garbage would otherwise look the same in the log as a quiet day. `LookupWatch` is told
every lookup's outcome and logs when lookups start failing and what failed (HTTP
status, timeout, unreadable answer, unreachable), when the kind of failure changes,
and when they answer again (after how long, how many failed). While the breaker is
open, its refusals continue the outage rather than change it: the breaker's own
opening and closing are logged by `log_breaker_change`, which the factory hands it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from crm_adapter.breaker import BreakerState
from crm_adapter.lookup import BREAKER_OPEN, LookupOutcome
from ivr.events import LookupStatus

__all__ = ["LookupWatch", "log_breaker_change"]

log = logging.getLogger("callpop.crm")


class LookupWatch:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.failing: str | None = None  # the kind of failure, while lookups fail
        self._since = 0.0
        self._failed = 0

    def record(self, outcome: LookupOutcome) -> None:
        if outcome.status is not LookupStatus.UNAVAILABLE:
            if self.failing is not None:
                log.warning(
                    "CRM lookups answering again after %.0f s (%d lookups unavailable meanwhile)",
                    self._clock() - self._since,
                    self._failed,
                )
                self.failing, self._failed = None, 0
            return
        self._failed += 1
        kind = outcome.failure
        if kind == BREAKER_OPEN and self.failing is not None:
            return  # the breaker opened because of the failure already logged
        if kind == self.failing:
            return
        if self.failing is None:
            self._since = self._clock()
            log.warning(
                "CRM lookups failing (%s): %s; callers take the unavailable branch",
                kind,
                outcome.reason,
            )
        else:
            log.warning("CRM lookups now failing (%s): %s", kind, outcome.reason)
        self.failing = kind


def log_breaker_change(name: str, state: BreakerState, failures: int, reset_s: float) -> None:
    """The breaker's `on_change`: one line when it opens, one when it closes."""
    if state is BreakerState.OPEN:
        log.warning(
            "CRM circuit breaker %s open after %d failures in a row: lookups answer "
            "unavailable at once, one trial every %g s",
            name,
            failures,
            reset_s,
        )
    else:
        log.warning("CRM circuit breaker %s closed: a trial call succeeded", name)
