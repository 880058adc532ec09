"""The outbox relay: the worker that takes write-backs to the external CRM.

It claims due entries (`Outbox.claim`), hands each to `deliver` (the REST adapter's
`deliver`), and records the verdict: delivered, retry later (the CRM is unavailable;
exponential backoff), or failed (the CRM refused it). It wakes when this process
enqueues something (`wake`), when the next retry is due, and every `poll_s` for
entries written by other processes (the classic AGI script). `callpop serve` runs
`run()` in a cleanup context and cancels it at shutdown; a delivery cut short by
that is simply retried after its lease expires, with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from crm_adapter.outbox import Outbox, OutboxEntry
from crm_adapter.port import CrmError, CrmUnavailable

__all__ = ["OutboxRelay"]

log = logging.getLogger("callpop.outbox")

Deliver = Callable[[OutboxEntry], Awaitable[str | None]]


class OutboxRelay:
    def __init__(self, outbox: Outbox, deliver: Deliver, *, concurrency: int = 8) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.outbox = outbox
        self._deliver = deliver
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()

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
                log.warning("crm delivery deferred: %s", exc, extra={"fields": fields})
            except CrmError as exc:
                await self._record(self.outbox.failed(entry, str(exc)), entry)
                log.error("crm delivery refused, kept as failed: %s", exc, extra={"fields": fields})
            except Exception as exc:
                # Our bug, not the CRM's answer: keep the entry and try again later.
                log.exception("crm delivery broke", extra={"fields": fields})
                await self._record(self.outbox.retry_later(entry, f"internal error: {exc!r}"), entry)
            else:
                await self._record(self.outbox.delivered(entry, external_id), entry)

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
                    continue
                due = await self.outbox.next_due()
            except CrmError as exc:
                log.error("outbox unavailable: %s", exc)
                due = None
            wait = poll_s
            if due is not None:
                wait = min(poll_s, max(0.0, (due - self.outbox.now()).total_seconds()))
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass
