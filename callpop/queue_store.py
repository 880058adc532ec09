"""Queue state shared by every instance: the `queue_states` table (docs/contracts.md).

- `QueueStateWriter` (the AMI lease holder's side): the listener feeds it every AMI
  message; it folds them (`callpop.ami.queue_state.QueueStates`) and writes the snapshot
  at most once per `interval_s`, and only when it changed.
- `QueueStateReader` (every instance's IVR side, inside `CallServices.queue_state`): reads
  the table within the lookup budget, keeps the answer `ttl_s` so a flood of callers
  costs one read a second, and when the database is slow or down answers with the last
  state it read (stale data is better than a stalled caller), logging once per change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.ami.codec import Message
from callpop.ami.queue_state import QueueState, QueueStates
from crm_adapter.sql.tables import queue_states
from ivr.events import QueueValue

__all__ = ["QueueStateReader", "QueueStateStore", "QueueStateWriter"]

log = logging.getLogger("callpop.queues")

QueueFields = dict[str, QueueValue]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class QueueStateStore:
    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._engine = engine
        self._clock = clock

    async def write(self, states: Iterable[QueueState]) -> None:
        now = self._clock()
        async with self._engine.begin() as conn:
            for state in states:
                values = {**state.fields(), "updated_at": now}
                done = await conn.execute(
                    update(queue_states).where(queue_states.c.queue == state.queue).values(values)
                )
                if done.rowcount == 0:
                    await conn.execute(insert(queue_states).values(queue=state.queue, **values))

    async def read(self) -> dict[str, QueueFields]:
        """Every queue's fields; `longest_wait_s` brought forward to now."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(queue_states))).mappings().all()
        now = self._clock()
        found: dict[str, QueueFields] = {}
        for row in rows:
            fields: QueueFields = {
                name: row[name]
                for name in (
                    "callers",
                    "longest_wait_s",
                    "logged_in",
                    "available",
                    "paused",
                    "ewt_s",
                    "open",
                    "full",
                )
            }
            if row["callers"]:
                since = max(0, int((now - row["updated_at"]).total_seconds()))
                fields["longest_wait_s"] = row["longest_wait_s"] + since
            found[row["queue"]] = fields
        return found


class QueueStateWriter:
    """The fold of one instance's AMI messages, written to the store (module docstring)."""

    def __init__(
        self,
        store: QueueStateStore,
        *,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._interval_s = interval_s
        self._clock = clock
        self.states = QueueStates()
        self._written: dict[str, QueueState] = {}
        self._failing = False
        self.writes = 0

    def feed(self, message: Message) -> None:
        self.states.feed(message, self._clock())

    def reset(self) -> None:
        """The lease was lost: what this instance knew is no longer its to publish."""
        self.states = QueueStates()
        self._written = {}

    async def flush(self) -> None:
        snapshot = self.states.snapshot(self._clock())
        changed = [s for name, s in snapshot.items() if self._written.get(name) != s]
        if not changed:
            return
        try:
            await self._store.write(changed)
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            if not self._failing:
                log.warning("queue state not written: %s", str(exc).splitlines()[0] or repr(exc))
            self._failing = True
            return
        if self._failing:
            log.info("queue state written again")
        self._failing = False
        self._written.update({s.queue: s for s in changed})
        self.writes += 1

    async def run(self) -> None:
        while True:
            await self.flush()
            await asyncio.sleep(self._interval_s)


class QueueStateReader:
    """`CallServices.queue_state`'s source (module docstring)."""

    def __init__(
        self,
        store: QueueStateStore,
        *,
        budget_s: float,
        ttl_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._budget_s = budget_s
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._last: dict[str, QueueFields] = {}
        self._read_at: float | None = None
        self._reading: asyncio.Task[dict[str, QueueFields]] | None = None
        self._failing = False

    async def read(self, queues: Iterable[str]) -> dict[str, Mapping[str, QueueValue]]:
        if self._read_at is None or self._monotonic() - self._read_at >= self._ttl_s:
            await self._refresh()
        return {q: self._last[q] for q in queues if q in self._last}

    async def _refresh(self) -> None:
        # One read in flight for every caller asking meanwhile; a caller waits for it
        # at most the budget, and a read that overruns keeps going for the next one.
        if self._reading is None:
            self._reading = asyncio.create_task(self._store.read(), name="queue-state-read")
            self._reading.add_done_callback(self._read_done)
        with contextlib.suppress(TimeoutError, OSError, SQLAlchemyError):
            async with asyncio.timeout(self._budget_s):
                await asyncio.shield(self._reading)
        if self._reading is not None and not self._reading.done():
            self._trouble("queue state read is slower than the lookup budget")

    def _read_done(self, task: asyncio.Task[dict[str, QueueFields]]) -> None:
        self._reading = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._trouble(f"queue state not read: {str(error).splitlines()[0] or repr(error)}")
            return
        self._last = task.result()
        self._read_at = self._monotonic()
        if self._failing:
            log.info("queue state read again")
        self._failing = False

    def _trouble(self, message: str) -> None:
        if not self._failing:
            log.warning("%s; answering with the last state read", message)
        self._failing = True

    async def close(self) -> None:
        task = self._reading
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
