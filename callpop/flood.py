"""The flood switch (`callpop flood on --message known-outage` / `off` / `status`).

One row in the shared database (`flood_mode`), so every instance sees what an admin
set. `message` names the announcement flows play first while it is on (a word of
letters, digits, `-`, `_`: a sound name, never caller-facing free text).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

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
    once per `ttl_s` (one read in flight for every caller asking meanwhile). A caller
    waits for a read at most `budget_s`; a store that is slow or down answers with the
    last state read (off before any), logged once per change of state: an admin's
    switch reaching callers a second late beats callers stalled on the database."""

    def __init__(
        self,
        store: FloodStore,
        *,
        budget_s: float,
        ttl_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._budget_s = budget_s
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._last = FloodState(False, "", None)
        self._read_at: float | None = None
        self._reading: asyncio.Task[FloodState] | None = None
        self._failing = False

    async def read(self) -> FloodState:
        if self._read_at is None or self._monotonic() - self._read_at >= self._ttl_s:
            if self._reading is None:
                self._reading = asyncio.create_task(self._store.get(), name="flood-read")
                self._reading.add_done_callback(self._read_done)
            with contextlib.suppress(TimeoutError, OSError, SQLAlchemyError):
                async with asyncio.timeout(self._budget_s):
                    await asyncio.shield(self._reading)
            if self._reading is not None and not self._reading.done():
                self._trouble("the flood switch read is slower than the lookup budget")
        return self._last

    def _read_done(self, task: asyncio.Task[FloodState]) -> None:
        self._reading = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._trouble(f"flood switch not read: {str(error).splitlines()[0] or repr(error)}")
            return
        if task.result() != self._last:
            state = task.result()
            log.info("flood mode %s", f"on, message {state.message}" if state.active else "off")
        self._last = task.result()
        self._read_at = self._monotonic()
        if self._failing:
            log.info("flood switch read again")
        self._failing = False

    def _trouble(self, message: str) -> None:
        if not self._failing:
            log.warning("%s; callers get the last state read", message)
        self._failing = True

    async def close(self) -> None:
        task = self._reading
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
