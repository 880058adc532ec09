"""The `callbacks` table: requests stored with their place, and the guarded moves that
place each one once (docs/contracts.md, "Callbacks").

States (`crm_adapter.sql.tables.CALLBACK_STATES`):

    pending ──claim──▶ placing ──connected──▶ connected
       ▲                  │
       └──retry (spacing)─┤  the customer or the agent did not answer
                          └──no attempts left──▶ failed
    pending ──cancel──▶ cancelled

Every move is one UPDATE guarded by the state it leaves (and, out of `placing`, by the
attempt's channel id), so of two instances racing for a row exactly one moves it: the
placer originates only after its claim's UPDATE changed one row.

A callback's place is the order of requests in its queue (the row id): positions told
to callers only ever go down, never jump because someone with a longer wait asked later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.callbacks.rules import WAITING, check_number, check_request, printable
from crm_adapter.sql.tables import LIMITS, callbacks

__all__ = ["Callback", "CallbackStore", "check_number"]

FINAL = ("connected", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class Callback:
    id: int
    call_id: str
    queue: str
    number: str
    caller_name: str
    waited_s: int
    requested_at: datetime
    position: int
    state: str
    attempts: int
    next_attempt_at: datetime
    placed_by: str
    interface: str
    channel_id: str
    result: str
    updated_at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CallbackStore:
    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._engine = engine
        self._clock = clock

    async def request(
        self,
        *,
        call_id: str,
        queue: str,
        number: str,
        caller_name: str,
        waited_s: float,
        at: datetime,
    ) -> int:
        """Store a callback request; its 1-based position among the queue's waiting
        callbacks. Idempotent per `call_id`: a replay returns the position first given
        and stores nothing. ValueError when an argument cannot be stored as given."""
        check_request(call_id=call_id, queue=queue, number=number, call_id_limit=LIMITS["call_id"])
        if at.tzinfo is None:
            raise ValueError("naive datetime: a callback's time must be timezone-aware")
        stored = await self._position_of(call_id)
        if stored is not None:
            return stored
        values = {
            "call_id": call_id,
            "queue": queue,
            "number": number,
            "caller_name": printable(caller_name, 200),
            "waited_s": max(0, round(waited_s)),
            "requested_at": at,
            "position": 0,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": at,
            "placed_by": "",
            "interface": "",
            "channel_id": "",
            "result": "",
            "updated_at": self._clock(),
        }
        try:
            async with self._engine.begin() as conn:
                new_id = (
                    await conn.execute(insert(callbacks).values(values).returning(callbacks.c.id))
                ).scalar_one()
                position = (
                    await conn.execute(
                        select(func.count())
                        .select_from(callbacks)
                        .where(
                            callbacks.c.queue == queue,
                            callbacks.c.state.in_(WAITING),
                            callbacks.c.id <= new_id,
                        )
                    )
                ).scalar_one()
                await conn.execute(
                    update(callbacks).where(callbacks.c.id == new_id).values(position=position)
                )
        except IntegrityError:
            # the same request stored meanwhile by another instance (the unique call id)
            stored = await self._position_of(call_id)
            if stored is None:
                raise
            return stored
        return int(position)

    async def _position_of(self, call_id: str) -> int | None:
        async with self._engine.connect() as conn:
            found = (
                await conn.execute(
                    select(callbacks.c.position).where(callbacks.c.call_id == call_id)
                )
            ).scalar_one_or_none()
        return None if found is None else int(found)

    async def get(self, callback_id: int) -> Callback | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(callbacks).where(callbacks.c.id == callback_id)))
                .mappings()
                .first()
            )
        return None if row is None else Callback(**row)

    async def listing(self, states: Iterable[str] = ()) -> list[Callback]:
        """Callbacks in request order, only those in `states` when given."""
        query = select(callbacks).order_by(callbacks.c.id)
        wanted = tuple(states)
        if wanted:
            query = query.where(callbacks.c.state.in_(wanted))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [Callback(**row) for row in rows]

    async def waiting_counts(self) -> dict[str, int]:
        """Pending or placing callbacks per queue (the wallboard's "callbacks pending")."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(callbacks.c.queue, func.count())
                .where(callbacks.c.state.in_(WAITING))
                .group_by(callbacks.c.queue)
            )
            return {queue: int(n) for queue, n in rows}

    async def due(self, queue: str, *, limit: int) -> list[Callback]:
        """The next `limit` callbacks of `queue` to place, in request order: pending ones
        whose retry time has come. One waiting for its retry does not hold up those
        behind it (its caller had their turn)."""
        now = self._clock()
        async with self._engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(callbacks)
                        .where(
                            callbacks.c.queue == queue,
                            callbacks.c.state == "pending",
                            callbacks.c.next_attempt_at <= now,
                        )
                        .order_by(callbacks.c.id)
                        .limit(limit)
                    )
                )
                .mappings()
                .all()
            )
        return [Callback(**row) for row in rows]

    async def queues_waiting(self) -> list[str]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(callbacks.c.queue)
                .where(callbacks.c.state == "pending")
                .group_by(callbacks.c.queue)
                .order_by(callbacks.c.queue)
            )
            return [queue for (queue,) in rows]

    async def claim(
        self, callback_id: int, *, instance: str, interface: str, channel_id: str
    ) -> bool:
        """pending -> placing, counting the attempt; True only for the one claimer
        whose UPDATE moved the row."""
        return await self._move(
            callback_id,
            ("pending", None),
            state="placing",
            attempts=callbacks.c.attempts + 1,
            placed_by=instance,
            interface=interface,
            channel_id=channel_id,
            result="placing",
        )

    async def connected(self, callback_id: int, *, channel_id: str) -> bool:
        return await self._move(
            callback_id, ("placing", channel_id), state="connected", result="connected"
        )

    async def not_answered(
        self,
        callback_id: int,
        *,
        channel_id: str,
        result: str,
        max_attempts: int,
        retry_after: timedelta,
        counts: bool = True,
    ) -> str | None:
        """The attempt failed (`result` says how): back to pending after `retry_after`,
        or `failed` once `max_attempts` were made. `counts=False` (the agent's leg
        failed, not the customer's) gives the attempt back. The new state, or None when
        the row was not this attempt's to move."""
        row = await self.get(callback_id)
        if row is None or row.state != "placing" or row.channel_id != channel_id:
            return None
        attempts = row.attempts if counts else row.attempts - 1
        if counts and attempts >= max_attempts:
            moved = await self._move(
                callback_id, ("placing", channel_id), state="failed", result=result
            )
            return "failed" if moved else None
        moved = await self._move(
            callback_id,
            ("placing", channel_id),
            state="pending",
            attempts=attempts,
            next_attempt_at=self._clock() + retry_after,
            result=result,
        )
        return "pending" if moved else None

    async def note(self, callback_id: int, *, channel_id: str, result: str) -> bool:
        """Record how the attempt in flight stands (`placing` stays)."""
        return await self._move(
            callback_id, ("placing", channel_id), state="placing", result=result
        )

    async def give_up(self, callback_id: int, *, channel_id: str, result: str) -> bool:
        return await self._move(callback_id, ("placing", channel_id), state="failed", result=result)

    async def withdraw(self, call_id: str, *, result: str) -> bool:
        """Take back the request of call `call_id` while it is pending (its caller was
        told it was not stored); True if it was."""
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(callbacks)
                .where(callbacks.c.call_id == call_id, callbacks.c.state == "pending")
                .values(state="cancelled", result=result, updated_at=self._clock())
            )
        return bool(done.rowcount == 1)

    async def cancel(self, callback_id: int) -> bool:
        return await self._move(
            callback_id, ("pending", None), state="cancelled", result="cancelled"
        )

    async def _move(
        self, callback_id: int, leaving: tuple[str, str | None], **values: object
    ) -> bool:
        state, channel_id = leaving
        guard = [callbacks.c.id == callback_id, callbacks.c.state == state]
        if channel_id is not None:
            guard.append(callbacks.c.channel_id == channel_id)
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(callbacks).where(*guard).values(updated_at=self._clock(), **values)
            )
        return bool(done.rowcount == 1)
