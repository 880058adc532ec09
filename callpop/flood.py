"""The flood switch (`callpop flood on --message known-outage` / `off` / `status`).

One row in the shared database (`flood_mode`), so every instance sees what an admin
set. `message` names the announcement flows play first while it is on (a word of
letters, digits, `-`, `_`: a sound name, never caller-facing free text).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callpop.cached_read import CachedRead, ReadNotes
from crm_adapter.sql.tables import flood_mode

__all__ = ["FloodReader", "FloodState", "FloodStore", "check_message"]

log = logging.getLogger("callpop.flood")

_MESSAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)


def check_message(message: str) -> str:
    """The message name, or ValueError saying what a message name is."""
    if not _MESSAGE.fullmatch(message):
        raise ValueError(
            f"{message!r} is not a message name: a letter or digit, then letters, digits, "
            "'-' or '_' (64 at most), e.g. known-outage"
        )
    return message


@dataclass(frozen=True, slots=True)
class FloodState:
    active: bool
    message: str
    changed_at: datetime | None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FloodStore:
    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._engine = engine
        self._clock = clock

    async def set(self, active: bool, message: str = "") -> FloodState:
        if active:
            check_message(message)
        values = {"active": active, "message": message, "changed_at": self._clock()}
        async with self._engine.begin() as conn:
            done = await conn.execute(update(flood_mode).where(flood_mode.c.id == 1).values(values))
            if done.rowcount == 0:
                await conn.execute(insert(flood_mode).values(id=1, **values))
        return FloodState(active, message, values["changed_at"])  # type: ignore[arg-type]

    async def get(self) -> FloodState:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(flood_mode).where(flood_mode.c.id == 1))).first()
        if row is None:
            return FloodState(False, "", None)
        return FloodState(row.active, row.message, row.changed_at)


class FloodReader:
    """`CallServices.flood_state`'s source: the switch as last read, read again at most
    once per `ttl_s` (one read in flight for every caller asking meanwhile), the last
    state answered at once for `stale_s` more while that read runs. A caller waits for
    a read at most `budget_s`; a store that is slow or down answers with the last state
    read (off before any), logged once per change of state: an admin's switch reaching
    callers two seconds late beats callers stalled on the database."""

    def __init__(
        self,
        store: FloodStore,
        *,
        budget_s: float,
        ttl_s: float = 1.0,
        stale_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._switch = CachedRead(
            store.get,
            initial=FloodState(False, "", None),
            notes=ReadNotes(
                log,
                slow="the flood switch read is slower than the lookup budget",
                failed="flood switch not read",
                recovered="flood switch read again",
                fallback="callers get the last state read",
            ),
            budget_s=budget_s,
            ttl_s=ttl_s,
            stale_s=stale_s,
            failures=(OSError, SQLAlchemyError),
            on_change=_say_flood_mode,
            name="flood-read",
            monotonic=monotonic,
        )

    async def read(self) -> FloodState:
        return await self._switch.read()

    async def close(self) -> None:
        await self._switch.close()


def _say_flood_mode(state: FloodState) -> None:
    log.info("flood mode %s", f"on, message {state.message}" if state.active else "off")
