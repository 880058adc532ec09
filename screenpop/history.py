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

**One writer for several instances.** With a shared bus every instance's hub reads
every event and derives the same pop changes; were each to write them, the database
would do the work once per instance (docs/scale.md). So with a `lease` only its
holder writes: after each batch it announces (`announce`, a `history.written` event
on the bus) the bus seq up to which every row is in the database. The others keep
their own copy of each change, tagged with the seq of the bus event it came from,
until such a mark passes it. When the writer dies, the lease moves to one of them,
which writes whatever no mark covered yet: a row is written once, twice at worst
(a batch committed just before a SIGKILL, whose mark never went out), and never
lost while one instance that saw its event lives. An agent's own action (notes, a
disposition) is applied here first and published: its changes get the seq of that
event when it comes back (`echoed`), and the writer, reading it from the bus, writes
them. Without a lease (one instance) this process writes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from screenpop.pops import PopChange
from screenpop.store import PopRecord, QueueEventRecord, ScreenpopStore, StoredPopState

__all__ = ["Announce", "PopHistory", "WriterLease"]

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

Announce = Callable[[int], None]
"""Tell the other instances: the rows of every bus event up to this seq are written."""


class WriterLease(Protocol):
    """Who writes the history when instances share the bus (the composition root gives
    a PostgreSQL advisory lock, as for an Asterisk's AMI: callpop/ami/lease.py)."""

    async def acquire(self) -> None:
        """Returns once this instance holds the lease."""

    async def until_lost(self) -> None:
        """Returns when the lease is no longer certainly held."""

    async def release(self) -> None:
        """Gives the lease up (on shutdown)."""


@dataclass(slots=True)
class _Entry:
    n: int  # the order of recording: `drained` waits by it
    # the bus event the change came from; None: an action of this instance's agent
    # whose event has not come back from the bus yet
    seq: int | None
    share: int  # which of this instance's published actions it belongs to (0: none)
    record: _Record


class PopHistory:
    """`record` from the event path, `run` as a task, `flush` at shutdown.

    `linger_s` is how long the writer waits after the first queued change, so that a
    batch gathers what arrives meanwhile; `max_pending` bounds what waits when the
    database is slower than the pops (or, on an instance that does not write, while
    no writer's mark comes). `lease`: write only while holding it (instances sharing
    the bus), announcing each batch's mark with `announce`; `standby_s` is how long
    an instance that lost it waits before asking again.
    """

    def __init__(
        self,
        store: ScreenpopStore,
        clock: Callable[[], datetime],
        max_pending: int = 50_000,
        linger_s: float = 0.25,
        max_batch: int = 1_000,
        *,
        lease: WriterLease | None = None,
        announce: Announce | None = None,
        standby_s: float = 2.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_pending = max_pending
        self._linger_s = linger_s
        self._max_batch = max_batch
        self._lease = lease
        self._announce = announce
        self._standby_s = standby_s
        # whether this instance writes: always without a lease, else while holding it
        self.writer = lease is None
        self.terms = 0  # times the lease was taken
        self._pending: list[_Entry] = []
        # taken from `_pending` and not yet known to be written: `flush` writes it
        # again if `run` was cancelled in the middle (the upsert is idempotent)
        self._writing: list[_Entry] = []
        self._queued = asyncio.Event()
        self._hurry = asyncio.Event()  # someone waits in `drained`: no lingering
        self._recorded = 0  # entries recorded since the start: the next one's `n`
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._dropped = 0  # changes dropped since the pending bound was last reached
        self._bus_seq = 0  # the bus event being handled (or the last one)
        self._marked = 0  # the highest mark this instance announced
        self.covered = 0  # the highest mark seen on the bus (any writer's)
        self._shares = 0  # this instance's agents' actions published so far

    @property
    def pending(self) -> int:
        """Changes recorded and not yet written (nor seen written by the writer)."""
        return len(self._pending) + len(self._writing)

    # --- what the hub tells it --------------------------------------------------------

    def note_bus(self, seq: int) -> None:
        """The hub handles the bus event `seq` now: what it records until the next one
        comes from it. The writer announces the new position (at most once a batch)."""
        self._bus_seq = seq
        if self.writer and self._announce is not None and seq > self._marked:
            self._queued.set()

    def record(self, change: PopChange, *, own: bool = False) -> None:
        """Queue the change for writing; never waits. An update (notes, disposition,
        payload) keeps the state's time. `own`: made by an agent's request here, to be
        published next (`shared`), not by the bus event being handled."""
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
                pbx=change.pbx,
            ),
            own=own,
        )

    def record_queue_event(self, record: QueueEventRecord) -> None:
        """Queue a `queue_events` row for writing; never waits."""
        self._append(record, own=False)

    def shared(self) -> int:
        """The own changes recorded since the last call go out on the bus now, in the
        event this number is put in; `echoed` tells when it comes back."""
        self._shares += 1
        return self._shares

    def echoed(self, seq: int, share: object) -> None:
        """This instance's published action `share` came back from the bus as `seq`:
        its changes are covered by the writer's marks from `seq` on."""
        for entry in (*self._writing, *self._pending):
            if entry.seq is None and entry.share == share:
                entry.seq = seq

    def written_up_to(self, mark: int) -> None:
        """A writer says the rows of every bus event up to `mark` are in the database:
        this instance's copies of them are not needed."""
        if mark <= self.covered:
            return
        self.covered = mark
        kept = [e for e in self._pending if e.seq is None or e.seq > mark]
        if len(kept) != len(self._pending):
            self._pending = kept
            self._settle()

    def hurry(self) -> None:
        """Write without lingering: an agent on another instance waits for this row."""
        if self.writer:
            self._hurry.set()

    def _append(self, record: _Record, *, own: bool) -> None:
        if len(self._pending) >= self._max_pending:
            self._dropped += 1
            if self._dropped == 1:  # once per overflow, not per change (one a pop a second)
                log.error(
                    "pop history: %d writes pending (%s), dropping changes (first: call %r)",
                    len(self._pending),
                    "writing" if self.writer else "waiting for the writer's mark",
                    record.call_id,
                )
            return
        if self._dropped:
            log.error("pop history: recording again; %d changes were not recorded", self._dropped)
            self._dropped = 0
        self._recorded += 1
        if own:
            entry = _Entry(self._recorded, None, self._shares + 1, record)
        else:
            entry = _Entry(self._recorded, self._bus_seq, 0, record)
        self._pending.append(entry)
        if self.writer:
            self._queued.set()

    # --- the writer -------------------------------------------------------------------

    async def run(self) -> None:
        """Write queued changes until cancelled: always, or while holding the lease."""
        if self._lease is None:
            await self._write_loop()
            return
        while True:
            await self._lease.acquire()
            self.writer = True
            self.terms += 1
            self._queued.set()  # what no mark covers: the last writer may not have
            writing = asyncio.create_task(self._write_loop(), name="pop-history-writer")
            lost = asyncio.create_task(self._lease.until_lost(), name="pop-history-lease")
            try:
                await asyncio.wait({writing, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (writing, lost):
                    task.cancel()
                await asyncio.gather(writing, lost, return_exceptions=True)
                # a batch cut short may or may not be in: keep it until a mark says
                self._pending[:0], self._writing = self._writing, []
            failed = writing.exception() if writing.done() and not writing.cancelled() else None
            if failed is not None:
                raise failed
            self.writer = False
            self._queued.clear()
            log.warning("pop history: no longer the writer; another instance writes")
            await asyncio.sleep(self._standby_s)

    async def _write_loop(self) -> None:
        while True:
            await self._queued.wait()
            # Lingering gathers a batch; with a full one waiting it only adds a delay per
            # batch, which capped the writer below the changes of 300 calls/s (a backlog
            # that grew to the bound: bench.scale_out's profile, docs/scale.md).
            full = len(self._pending) >= self._max_batch
            if self._linger_s > 0 and not full and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._linger_s):
                        await self._hurry.wait()
            self._hurry.clear()
            await self._write_pending()

    async def drained(self) -> None:
        """Return once every change recorded before the call is written (or given up,
        or, on an instance that does not write, seen written by the writer); the writer
        does not linger meanwhile. Only `run`, `flush` or a writer's mark make progress."""
        target = self._recorded
        if self._settled(target):
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        self._hurry.set()
        await waiter

    async def flush(self) -> None:
        """At shutdown, after `run` was cancelled: write what is queued now if this
        instance is the writer, say so, and give the lease up."""
        if self.writer:
            while self._writing or self._pending:
                await self._write_pending()
        if self._lease is not None:
            self.writer = False
            await self._lease.release()

    async def _write_pending(self) -> None:
        if not self._writing:
            self._writing = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
        if not self._pending:
            self._queued.clear()
        # Every bus event handled so far has its changes in this batch or after it:
        # the mark is the last one, or just below the first change still waiting.
        later = [e.seq for e in self._pending if e.seq is not None]
        mark = min(self._bus_seq, min(later) - 1) if later else self._bus_seq
        batch = [entry.record for entry in self._writing]
        if batch:
            try:
                await self._write(batch)
            except Exception as exc:
                await self._write_one_by_one(batch, exc)
        self._writing = []
        self._settle()
        if self._announce is not None and mark > self._marked:
            self._marked = mark
            self._announce(mark)

    def _settled(self, target: int) -> bool:
        first = self._writing[0] if self._writing else self._pending[0] if self._pending else None
        return first is None or first.n > target

    def _settle(self) -> None:
        if self._waiters:
            waiting = []
            for target, waiter in self._waiters:
                if not self._settled(target):
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
