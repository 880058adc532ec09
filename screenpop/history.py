"""The pop history: every pop's changes, written to the `pops` table off the event
path (the agent's "today's calls", reports that join pops to calls and interactions,
and the pops a restarted instance shows again: the row is the pop as it stands, with
its notes and disposition), and the queue events of `screenpop.queue_log` to
`queue_events`. A database hiccup costs a history line, never a pop.

Changes are written in batches: `record` only appends, and the writer takes what
accumulated during `linger_s` into one transaction (`ScreenpopStore.record_pops`).
At 100 calls/s a pop changes ~300 times a second; one transaction each kept the loop
busy with database round trips, delaying the next pop. A reader that must see every
change sent so far (the agent's list of today's calls, asked for when a call goes to
wrap-up) awaits `drained()`, which cuts the linger short. A batch the database refuses
is written again row by row, so one bad row (an agent removed meanwhile) costs only
itself, and the failure is logged once per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from screenpop.pops import PopChange
from screenpop.store import PopRecord, QueueEventRecord, ScreenpopStore, StoredPopState

__all__ = ["PopHistory"]

log = logging.getLogger(__name__)

# The panel says "accepted", the table "live".
_STORED: Mapping[str, StoredPopState] = {
    "offered": "offered",
    "accepted": "live",
    "wrapup": "wrapup",
    "done": "done",
    "retracted": "retracted",
}

_Record = PopRecord | QueueEventRecord


class PopHistory:
    """`record` from the event path, `run` as a task, `flush` at shutdown.

    `linger_s` is how long the writer waits after the first queued change, so that a
    batch gathers what arrives meanwhile; `max_pending` bounds what waits when the
    database is slower than the pops.
    """

    def __init__(
        self,
        store: ScreenpopStore,
        clock: Callable[[], datetime],
        max_pending: int = 10_000,
        linger_s: float = 0.25,
        max_batch: int = 1_000,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_pending = max_pending
        self._linger_s = linger_s
        self._max_batch = max_batch
        self._pending: list[_Record] = []
        # taken from `_pending` and not yet known to be written: `flush` writes it
        # again if `run` was cancelled in the middle (the upsert is idempotent)
        self._writing: list[_Record] = []
        self._queued = asyncio.Event()
        self._hurry = asyncio.Event()  # someone waits in `drained`: no lingering
        # changes recorded and changes written (or given up) since the start; `drained`
        # waits for the second to reach what the first was when it was called
        self._recorded = 0
        self._written = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._dropped = 0  # changes dropped since the pending bound was last reached

    @property
    def pending(self) -> int:
        """Changes recorded and not yet written."""
        return len(self._pending) + len(self._writing)

    def record(self, change: PopChange) -> None:
        """Queue the change for writing; never waits. An update (notes, disposition,
        payload) keeps the state's time."""
        view = change.view
        state = _STORED.get(str(view.get("state")) if change.kind == "updated" else change.kind)
        if state is None:
            return
        offers = view.get("offers")
        self._append(
            PopRecord(
                str(view["call_id"]),
                change.agent_id,
                state,
                self._clock(),
                queue=str(view.get("queue") or ""),
                interface=str(view.get("interface") or ""),
                notes=str(view.get("notes") or ""),
                disposition=view.get("disposition"),
                reason=view.get("reason"),
                offers=offers if isinstance(offers, int) else 0,
                moved=change.kind != "updated",
            )
        )

    def record_queue_event(self, record: QueueEventRecord) -> None:
        """Queue a `queue_events` row for writing; never waits."""
        self._append(record)

    def _append(self, record: _Record) -> None:
        if len(self._pending) >= self._max_pending:
            self._dropped += 1
            if self._dropped == 1:  # once per overflow, not per change (one a pop a second)
                log.error(
                    "pop history: %d writes pending, dropping changes (first: call %r)",
                    len(self._pending),
                    record.call_id,
                )
            return
        if self._dropped:
            log.error("pop history: writing again; %d changes were not recorded", self._dropped)
            self._dropped = 0
        self._pending.append(record)
        self._recorded += 1
        self._queued.set()

    async def run(self) -> None:
        """Write queued changes until cancelled."""
        while True:
            await self._queued.wait()
            if self._linger_s > 0 and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._linger_s):
                        await self._hurry.wait()
            self._hurry.clear()
            await self._write_pending()

    async def drained(self) -> None:
        """Return once every change recorded before the call is written (or given up);
        the writer does not linger meanwhile. Only `run` or `flush` make progress."""
        target = self._recorded
        if self._written >= target:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        self._hurry.set()
        await waiter

    async def flush(self) -> None:
        """Write what is queued now (at shutdown, after `run` was cancelled)."""
        while self._writing or self._pending:
            await self._write_pending()

    async def _write_pending(self) -> None:
        if not self._writing:
            self._writing = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
        if not self._pending:
            self._queued.clear()
        batch = self._writing
        try:
            await self._write(batch)
        except Exception as exc:
            await self._write_one_by_one(batch, exc)
        self._writing = []
        self._written += len(batch)
        if self._waiters:
            waiting = []
            for target, waiter in self._waiters:
                if target > self._written:
                    waiting.append((target, waiter))
                elif not waiter.done():
                    waiter.set_result(None)
            self._waiters = waiting

    async def _write(self, batch: list[_Record]) -> None:
        await self._store.record_history(
            [r for r in batch if isinstance(r, PopRecord)],
            [r for r in batch if isinstance(r, QueueEventRecord)],
        )

    async def _write_one_by_one(self, batch: list[_Record], error: Exception) -> None:
        if len(batch) == 1:
            failed = batch
        else:
            failed = []
            for record in batch:
                try:
                    await self._write([record])
                except Exception as exc:
                    failed.append(record)
                    error = exc
        if failed:
            first = failed[0]
            what = (
                f"agent {first.agent_id}, {first.state}"
                if isinstance(first, PopRecord)
                else f"queue event {first.kind}"
            )
            log.error(
                "pop history: %d of %d changes not recorded (first: call %r, %s)",
                len(failed),
                len(batch),
                first.call_id,
                what,
                exc_info=error,
            )
