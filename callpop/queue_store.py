"""Queue state shared by every instance: the `queue_states` table (docs/contracts.md).

- `QueueStateWriter` (the AMI lease holder's side): the listener feeds it every AMI
  message; it folds them (`callpop.ami.queue_state.QueueStates`) and writes the snapshot
  at most once per `interval_s`, and only when it changed. While its listeners are
  logged in (`live`) it also vouches for every row it publishes every `refresh_s`
  (`seen_at`, one statement), changed or not; while they are not, it writes nothing, so
  the rows age instead of passing for current.
- `QueueStateReader` (every instance's IVR side, inside `CallServices.queue_state`): reads
  the table within the lookup budget, keeps the answer `ttl_s` so a flood of callers
  costs one read a second (and `stale_s` more while that read runs, so that no caller
  waits for it), and when the database is slow or down answers with the last
  state it read (stale data is better than a stalled caller), logging once per change.
  Up to a point: a row nobody connected to Asterisk vouched for in `max_age_s` is
  unknown (left out of the answer), judged when answering, so a kept answer ages too: a
  frozen "queue full" must not send every caller to overflow for ever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.ami.codec import Message
from callpop.ami.queue_state import QueueState, QueueStates
from callpop.cached_read import CachedRead, ReadNotes
from crm_adapter.sql.tables import queue_states
from ivr.events import QueueValue

__all__ = ["QueueRow", "QueueStateReader", "QueueStateStore", "QueueStateWriter"]

log = logging.getLogger("callpop.queues")

QueueFields = dict[str, QueueValue]


def _utcnow() -> datetime:
    return datetime.now(UTC)


FIELDS = ("callers", "longest_wait_s", "logged_in", "available", "paused", "ewt_s", "open", "full")


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queue's row as read: its fields, and when a connected lease holder last
    vouched for them."""

    fields: QueueFields
    seen_at: datetime

    def age_s(self, now: datetime) -> float:
        return max(0.0, (now - self.seen_at).total_seconds())


class QueueStateStore:
    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._engine = engine
        self._clock = clock

    async def write(self, states: Iterable[QueueState]) -> None:
        now = self._clock()
        async with self._engine.begin() as conn:
            for state in states:
                values = {**state.fields(), "updated_at": now, "seen_at": now}
                done = await conn.execute(
                    update(queue_states).where(queue_states.c.queue == state.queue).values(values)
                )
                if done.rowcount == 0:
                    await conn.execute(insert(queue_states).values(queue=state.queue, **values))

    async def vouch(self, queues: Iterable[str]) -> None:
        """The lease holder, connected, says these rows are still current: one statement."""
        names = sorted(set(queues))
        if not names:
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                update(queue_states)
                .where(queue_states.c.queue.in_(names))
                .values(seen_at=self._clock())
            )

    async def rows(self) -> dict[str, QueueRow]:
        """Every queue's row; `longest_wait_s` brought forward to now."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(queue_states))).mappings().all()
        now = self._clock()
        found: dict[str, QueueRow] = {}
        for row in rows:
            fields: QueueFields = {name: row[name] for name in FIELDS}
            if row["callers"]:
                since = max(0, int((now - row["updated_at"]).total_seconds()))
                fields["longest_wait_s"] = row["longest_wait_s"] + since
            found[row["queue"]] = QueueRow(fields, row["seen_at"])
        return found

    async def read(self) -> dict[str, QueueFields]:
        """Every queue's fields, fresh or not (what the table holds; see `rows`)."""
        return {queue: row.fields for queue, row in (await self.rows()).items()}


class QueueStateWriter:
    """The fold of one instance's AMI messages, written to the store (module docstring)."""

    def __init__(
        self,
        store: QueueStateStore,
        *,
        live: Callable[[], bool],
        interval_s: float = 1.0,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        # True while this instance holds a lease and its listener is logged in: only
        # then is what it folded the PBX's current state, worth vouching for.
        self._live = live
        self._interval_s = interval_s
        self._refresh_s = refresh_s
        self._clock = clock
        self._monotonic = monotonic
        self.states = QueueStates()
        self._written: dict[str, QueueState] = {}
        self._vouched_at: float | None = None
        self._failing = False
        self._said_lost = False  # "AMI not connected" said, "connected again" owed
        self.writes = 0
        self.vouches = 0

    def feed(self, message: Message) -> None:
        self.states.feed(message, self._clock())

    def reset(self) -> None:
        """The lease was lost: what this instance knew is no longer its to publish."""
        self.states = QueueStates()
        self._written = {}
        self._vouched_at = None

    async def flush(self) -> None:
        if not self._live():
            # Said once, and only by the instance that was publishing: one that never
            # held the lease, or lost it to another, has nothing to take back.
            if self._written and not self._said_lost:
                log.warning(
                    "AMI not connected: queue state of %s no longer refreshed; it reads as"
                    " unknown once older than queues.state_max_age_s",
                    ", ".join(sorted(self._written)),
                )
                self._said_lost = True
            return
        if self._said_lost:
            log.info("AMI connected again: queue state refreshed again")
            self._said_lost = False
        snapshot = self.states.snapshot(self._clock())
        changed = [s for name, s in snapshot.items() if self._written.get(name) != s]
        now = self._monotonic()
        due = self._vouched_at is None or now - self._vouched_at >= self._refresh_s
        # a row written now is vouched for by that write; the others by one statement
        rewritten = {s.queue for s in changed}
        unchanged = (
            [n for n in snapshot if n in self._written and n not in rewritten] if due else []
        )
        if not changed and not unchanged:
            return
        try:
            if changed:
                await self._store.write(changed)
            if unchanged:
                await self._store.vouch(unchanged)
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            if not self._failing:
                log.warning("queue state not written: %s", str(exc).splitlines()[0] or repr(exc))
            self._failing = True
            return
        if self._failing:
            log.info("queue state written again")
        self._failing = False
        if changed:
            self._written.update({s.queue: s for s in changed})
            self.writes += 1
        if due:
            self._vouched_at = now
            self.vouches += 1

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
        max_age_s: float,
        ttl_s: float = 1.0,
        stale_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._rows: CachedRead[dict[str, QueueRow]] = CachedRead(
            store.rows,
            initial={},
            notes=ReadNotes(
                log,
                slow="queue state read is slower than the lookup budget",
                failed="queue state not read",
                recovered="queue state read again",
                fallback="answering with the last state read",
            ),
            budget_s=budget_s,
            ttl_s=ttl_s,
            stale_s=stale_s,
            failures=(OSError, SQLAlchemyError),
            name="queue-state-read",
            monotonic=monotonic,
        )
        self._max_age_s = max_age_s
        self._clock = clock
        self._stale: set[str] = set()

    async def read(self, queues: Iterable[str]) -> dict[str, Mapping[str, QueueValue]]:
        """The fresh state of those of `queues` the table holds; a stale one is left out
        (unknown), as one nobody wrote."""
        rows = await self._rows.read()
        now = self._clock()
        found: dict[str, Mapping[str, QueueValue]] = {}
        for queue in queues:
            row = rows.get(queue)
            if row is None:
                continue
            age_s = row.age_s(now)
            if age_s > self._max_age_s:
                self._went_stale(queue, age_s)
                continue
            if queue in self._stale:
                self._stale.discard(queue)
                log.info("queue state of %s is current again", queue)
            found[queue] = row.fields
        return found

    def _went_stale(self, queue: str, age_s: float) -> None:
        if queue in self._stale:
            return
        self._stale.add(queue)
        log.warning(
            "queue state of %s is %d s old (no instance connected to Asterisk's AMI has"
            " refreshed it; queues.state_max_age_s %g): queue.%s.* reads as unknown",
            queue,
            age_s,
            self._max_age_s,
            queue,
        )

    async def close(self) -> None:
        await self._rows.close()
