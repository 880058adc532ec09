"""The outbox relay: the worker that takes write-backs to the external CRM.

It claims due entries (`Outbox.claim`), hands each to `deliver` (the REST adapter's
`deliver`), and records the verdict: delivered, retry later (the CRM is unavailable;
exponential backoff), or failed (the CRM refused it). It wakes when this process
enqueues something (`wake`), when the next retry is due, and every `poll_s` for
entries written by other processes (the classic AGI script). `callpop serve` runs
`run()` in a cleanup context and cancels it at shutdown; a delivery cut short by
that is simply retried after its lease expires, with the same idempotency key.

Logs follow the CRM's state, not the entries: one warning when write-backs start
failing (the first reason), one line when they go through again (how long, how
many attempts were deferred), one error when the CRM starts refusing them (its
answer, and the command that requeues them), and one when its local database
fails or recovers. Each entry's attempts are at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from crm_adapter.outbox import Outbox, OutboxEntry
from crm_adapter.port import CrmError, CrmRejected, CrmUnavailable

__all__ = ["OutboxRelay"]

log = logging.getLogger("callpop.outbox")

Deliver = Callable[[OutboxEntry], Awaitable[str | None]]

REQUEUE_HINT = "callpop crm outbox retry --failed"


class _Health:
    """What the CRM is doing with write-backs, to log once per change of state."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.outage_since: float | None = None
        self.deferred = 0
        self.refusal: str | None = None  # what the CRM objects to, while it does
        self.refused = 0
        self.database_down = False

    def unavailable(self, exc: CrmUnavailable) -> None:
        self.deferred += 1
        if self.outage_since is None:
            self.outage_since = self._clock()
            log.warning("CRM write-backs failing: %s; they are kept and retried with backoff", exc)

    def refused_one(self, exc: CrmError) -> None:
        self.refused += 1
        status = exc.status if isinstance(exc, CrmRejected) else None
        what = f"HTTP {status}" if status is not None else type(exc).__name__
        if self.refusal != what:
            self.refusal = what
            log.error(
                "CRM refusing write-backs: %s; kept as failed (list them with "
                "`callpop crm outbox`, send them again with `%s`)",
                exc,
                REQUEUE_HINT,
            )

    def delivered(self) -> None:
        if self.outage_since is not None:
            log.warning(
                "CRM write-backs going through again after %.0f s (%d attempts deferred meanwhile)",
                self._clock() - self.outage_since,
                self.deferred,
            )
            self.outage_since, self.deferred = None, 0
        if self.refusal is not None:
            log.warning(
                "CRM accepting write-backs again; %d refused ones are kept as failed (`%s`)",
                self.refused,
                REQUEUE_HINT,
            )
            self.refusal, self.refused = None, 0

    def database(self, exc: CrmError | None) -> None:
        if exc is not None and not self.database_down:
            self.database_down = True
            log.error("outbox unavailable: %s; write-backs wait in the database", exc)
        elif exc is None and self.database_down:
            self.database_down = False
            log.warning("outbox available again")


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        deliver: Deliver,
        *,
        concurrency: int = 8,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.outbox = outbox
        self._deliver = deliver
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._health = _Health(monotonic)

    def wake(self) -> None:
        """Something was enqueued: look now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim one batch of due entries and deliver them; how many were tried."""
        entries = await self.outbox.claim()
        if entries:
            # One entry per call at most (the claim sees to it), so these may go in parallel.
            async with asyncio.TaskGroup() as group:
                for entry in entries:
                    group.create_task(self._one(entry))
        return len(entries)

    async def _one(self, entry: OutboxEntry) -> None:
        fields = {"key": entry.key, "operation": entry.operation, "attempt": entry.attempts + 1}
        async with self._limit:
            try:
                external_id = await self._deliver(entry)
            except CrmUnavailable as exc:
                await self._record(self.outbox.retry_later(entry, str(exc)), entry)
                self._health.unavailable(exc)
                log.debug("crm delivery deferred: %s", exc, extra={"fields": fields})
            except CrmError as exc:
                await self._record(self.outbox.failed(entry, str(exc)), entry)
                self._health.refused_one(exc)
                log.debug("crm delivery refused: %s", exc, extra={"fields": fields})
            except Exception as exc:
                # Our bug, not the CRM's answer: keep the entry and try again later.
                log.exception("crm delivery broke", extra={"fields": fields})
                await self._record(
                    self.outbox.retry_later(entry, f"internal error: {exc!r}"), entry
                )
            else:
                await self._record(self.outbox.delivered(entry, external_id), entry)
                self._health.delivered()

    async def _record(self, write: Awaitable[object], entry: OutboxEntry) -> None:
        try:
            await write
        except CrmError as exc:
            # The local database failed us; the lease runs out and the entry comes back,
            # to be sent again with the same idempotency key.
            log.error("outbox update failed: %s", exc, extra={"fields": {"key": entry.key}})

    async def run(self) -> None:
        """Deliver until cancelled."""
        poll_s = self.outbox.settings.poll_s
        while True:
            self._wake.clear()
            try:
                if await self.run_once():
                    self._health.database(None)
                    continue
                due = await self.outbox.next_due()
                self._health.database(None)
            except CrmError as exc:
                self._health.database(exc)
                due = None
            wait = poll_s
            if due is not None:
                wait = min(poll_s, max(0.0, (due - self.outbox.now()).total_seconds()))
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass
