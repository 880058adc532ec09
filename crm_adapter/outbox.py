"""The transactional outbox: write-backs to the external CRM, stored first, sent later.

`log_interaction` and `update_interaction` write the interaction and an outbox entry
in one local transaction (`enqueue`), so a disposition an agent saved survives a CRM
outage and a crash. The relay (`crm_adapter.relay`) claims due entries, sends them,
and records the result here.

Delivery rules:
- the idempotency key is `call_id:seq` (seq counts a call's entries from 1); it goes
  to the CRM with every attempt, so a resend after a crash between the CRM's answer
  and our commit is recognised by a CRM that honours it;
- a call's entries go in order: an entry is due only when every earlier entry of its
  call is delivered or has failed for good (an update never overtakes its log);
- a claim is a lease (`locked_until`), not a held transaction: no database lock is
  kept while the CRM is being called, and a claim by a process that died expires;
- an unavailable CRM means retry with exponential backoff and jitter; a CRM that
  rejects the entry (a 4xx) marks it failed, kept with the CRM's answer for an
  operator, who lists them (`callpop crm outbox`) and, once the cause is fixed (a new
  token, a field the CRM now accepts), puts them back in the queue (`callpop crm
  outbox retry --failed`, `requeue`): they go out again, in call order, with their
  original idempotency keys.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_adapter.settings import OutboxSettings
from crm_adapter.sql.engine import writer
from crm_adapter.sql.errors import mapped_errors
from crm_adapter.sql.tables import interactions, outbox

__all__ = ["Backlog", "FailedEntry", "Outbox", "OutboxEntry", "enqueue"]

_PENDING = and_(outbox.c.delivered_at.is_(None), outbox.c.failed_at.is_(None))
_FAILED = outbox.c.failed_at.is_not(None)
_DELIVERED = outbox.c.delivered_at.is_not(None)
_ERROR_CHARS = 1000


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    call_id: str
    seq: int
    operation: str
    payload: Mapping[str, Any]
    attempts: int
    created_at: datetime
    # The CRM's id of the interaction, known once its log_interaction was delivered.
    external_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.call_id}:{self.seq}"


@dataclass(frozen=True, slots=True)
class Backlog:
    """For monitoring: entries waiting, the oldest one's age, entries the CRM refused
    (kept until requeued), entries delivered."""

    pending: int
    oldest: datetime | None
    failed: int
    delivered: int = 0

    def oldest_age_s(self, now: datetime) -> float:
        return 0.0 if self.oldest is None else max(0.0, (now - self.oldest).total_seconds())


@dataclass(frozen=True, slots=True)
class FailedEntry:
    """An entry the CRM refused, as an operator sees it."""

    key: str
    operation: str
    attempts: int
    failed_at: datetime
    error: str


async def enqueue(
    conn: AsyncConnection,
    call_id: str,
    operation: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> int:
    """Add an entry inside the caller's transaction; returns its seq."""
    last = await conn.scalar(select(func.max(outbox.c.seq)).where(outbox.c.call_id == call_id))
    seq = (last or 0) + 1
    await conn.execute(
        insert(outbox).values(
            call_id=call_id,
            seq=seq,
            operation=operation,
            payload=dict(payload),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )
    return seq


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """The outbox table's queries, for the relay and for monitoring."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: OutboxSettings | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self.settings = settings or OutboxSettings()
        self._clock = clock
        self._random = random

    def now(self) -> datetime:
        return self._clock()

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt: doubling, capped, and spread
        over [50 %, 100 %] so entries that failed together do not retry together."""
        base = min(
            self.settings.backoff_max_s, self.settings.backoff_s * 2.0 ** min(attempts - 1, 60)
        )
        return timedelta(seconds=base * (0.5 + self._random() / 2))

    async def claim(self) -> list[OutboxEntry]:
        """Lease the due entries (at most `batch`, at most one per call) to this relay."""
        now = self._clock()
        earlier = outbox.alias("earlier")
        due = (
            select(outbox.c.id)
            .where(
                _PENDING,
                outbox.c.next_attempt_at <= now,
                (outbox.c.locked_until.is_(None)) | (outbox.c.locked_until <= now),
                ~exists().where(
                    earlier.c.call_id == outbox.c.call_id,
                    earlier.c.seq < outbox.c.seq,
                    earlier.c.delivered_at.is_(None),
                    earlier.c.failed_at.is_(None),
                ),
            )
            .order_by(outbox.c.id)
            .limit(self.settings.batch)
        )
        with mapped_errors("outbox claim"):
            async with self._writer.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # Two relays on one database skip each other's rows instead of waiting.
                    due = due.with_for_update(of=outbox, skip_locked=True)
                ids = list((await conn.scalars(due)).all())
                if not ids:
                    return []
                lease = now + timedelta(seconds=self.settings.lease_s)
                await conn.execute(
                    update(outbox).where(outbox.c.id.in_(ids)).values(locked_until=lease)
                )
                rows = await conn.execute(
                    select(outbox, interactions.c.external_id.label("interaction_external_id"))
                    .select_from(
                        outbox.outerjoin(interactions, interactions.c.call_id == outbox.c.call_id)
                    )
                    .where(outbox.c.id.in_(ids))
                    .order_by(outbox.c.id)
                )
                return [
                    OutboxEntry(
                        id=row.id,
                        call_id=row.call_id,
                        seq=row.seq,
                        operation=row.operation,
                        payload=row.payload,
                        attempts=row.attempts,
                        created_at=row.created_at,
                        external_id=row.interaction_external_id,
                    )
                    for row in rows
                ]

    async def delivered(self, entry: OutboxEntry, external_id: str | None = None) -> None:
        now = self._clock()
        with mapped_errors("outbox delivered"):
            async with self._writer.begin() as conn:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == entry.id)
                    .values(
                        delivered_at=now,
                        locked_until=None,
                        last_error=None,
                        attempts=outbox.c.attempts + 1,
                    )
                )
                if external_id is not None and entry.operation == "log_interaction":
                    await conn.execute(
                        update(interactions)
                        .where(interactions.c.call_id == entry.call_id)
                        .values(external_id=external_id)
                    )

    async def retry_later(self, entry: OutboxEntry, error: str) -> datetime:
        """Record a failed attempt; returns when the entry is due again."""
        now = self._clock()
        due = now + self.backoff(entry.attempts + 1)
        with mapped_errors("outbox retry"):
            async with self._writer.begin() as conn:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == entry.id)
                    .values(
                        attempts=outbox.c.attempts + 1,
                        next_attempt_at=due,
                        locked_until=None,
                        last_error=error[:_ERROR_CHARS],
                    )
                )
        return due

    async def failed(self, entry: OutboxEntry, error: str) -> None:
        """Give up on an entry the CRM refused; it stays in the table with its error."""
        now = self._clock()
        with mapped_errors("outbox failed"):
            async with self._writer.begin() as conn:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == entry.id)
                    .values(
                        failed_at=now,
                        locked_until=None,
                        attempts=outbox.c.attempts + 1,
                        last_error=error[:_ERROR_CHARS],
                    )
                )

    async def backlog(self) -> Backlog:
        with mapped_errors("outbox backlog"):
            async with self._engine.connect() as conn:
                pending, oldest = (
                    await conn.execute(
                        select(func.count(), func.min(outbox.c.created_at)).where(_PENDING)
                    )
                ).one()
                failed, delivered = (
                    await conn.execute(
                        select(
                            func.count().filter(_FAILED), func.count().filter(_DELIVERED)
                        ).select_from(outbox)
                    )
                ).one()
        return Backlog(
            pending=pending, oldest=_aware(oldest), failed=failed or 0, delivered=delivered or 0
        )

    async def failures(self, limit: int = 50) -> list[FailedEntry]:
        """The most recently refused entries, newest first."""
        with mapped_errors("outbox failures"):
            async with self._engine.connect() as conn:
                rows = await conn.execute(
                    select(outbox)
                    .where(_FAILED)
                    .order_by(outbox.c.failed_at.desc(), outbox.c.id.desc())
                    .limit(limit)
                )
                return [
                    FailedEntry(
                        key=f"{row.call_id}:{row.seq}",
                        operation=row.operation,
                        attempts=row.attempts,
                        failed_at=_aware(row.failed_at) or self._clock(),
                        error=row.last_error or "",
                    )
                    for row in rows
                ]

    async def requeue(self, *, failed: bool) -> int:
        """Make waiting entries due now (the CRM is back: skip the rest of their
        backoff), and with `failed` put the refused ones back in the queue too; how many.

        An entry a relay holds right now (its lease not run out) is left to it. A
        requeued entry keeps its idempotency key and its place in its call's order: a
        refused log and the update refused after it go again, log first."""
        now = self._clock()
        free = (outbox.c.locked_until.is_(None)) | (outbox.c.locked_until <= now)
        which = (_PENDING | _FAILED) if failed else _PENDING
        with mapped_errors("outbox requeue"):
            async with self._writer.begin() as conn:
                result = await conn.execute(
                    update(outbox)
                    .where(which, outbox.c.delivered_at.is_(None), free)
                    .values(failed_at=None, next_attempt_at=now, locked_until=None)
                )
        return int(result.rowcount or 0)

    async def next_due(self) -> datetime | None:
        """When the earliest pending entry may be tried (leases included)."""
        ready = case(
            (outbox.c.locked_until > outbox.c.next_attempt_at, outbox.c.locked_until),
            else_=outbox.c.next_attempt_at,
        )
        with mapped_errors("outbox next due"):
            async with self._engine.connect() as conn:
                due = await conn.scalar(select(func.min(ready)).where(_PENDING))
        return _aware(due)


def _aware(value: Any) -> datetime | None:
    """Aggregates bypass the column type: SQLite hands back text, PostgreSQL a datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
