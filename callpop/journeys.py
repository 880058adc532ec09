"""Journeys and call rows in the database, keyed by call id.

Every driver's runner ends with `save`; the classic AGI script, which runs in
Asterisk's process-per-call world, writes through the same class, and `serve` (the
screen-pop) reads the journey back by the call id. One transaction writes the `calls`
row (what reports group by) and the `journeys` row (the whole path, as JSON); saving
twice for one call id replaces both, so a retried save cannot duplicate a call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.sql.engine import writer
from crm_adapter.sql.tables import LIMITS, calls, journeys
from ivr.journey import Journey

__all__ = ["JourneyStore"]


def _clip(value: str | None, limit: int) -> str | None:
    # Caller ID names are the caller's to choose: a 10 kB name must not fail the save.
    return None if value is None else value[:limit]


def _started(journey: Journey, fallback: datetime) -> datetime:
    try:
        started = datetime.fromisoformat(journey.started_at.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return started if started.tzinfo else started.replace(tzinfo=UTC)


class JourneyStore:
    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock or (lambda: datetime.now(UTC))

    def _upsert(self, table: Any, values: Mapping[str, Any], key: str) -> Any:
        insert = pg_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(table).values(**values)
        return statement.on_conflict_do_update(
            index_elements=[key], set_={k: v for k, v in values.items() if k != key}
        )

    async def save(self, journey: Journey) -> None:
        now = self._clock()
        started = _started(journey, now)
        outcome = journey.outcome
        call_row = {
            "call_id": journey.call_id[: LIMITS["call_id"]],
            "flow": journey.flow[:64],
            "caller": _clip(journey.caller_number, 64) or "",
            "caller_name": _clip(journey.caller_name, 200) or "",
            "dnis": _clip(journey.dnis, 64) or "",
            "customer_id": _clip(journey.customer_id, LIMITS["external_id"]),
            "started_at": started,
            "ended_at": None if outcome is None else started + timedelta(milliseconds=outcome.at_ms),
            "outcome": None if outcome is None else outcome.type,
            "target": None if outcome is None else _clip(outcome.target, 200),
        }
        journey_row = {"call_id": call_row["call_id"], "data": journey.to_dict(), "saved_at": now}
        async with self._writer.begin() as conn:
            await conn.execute(self._upsert(calls, call_row, "call_id"))
            await conn.execute(self._upsert(journeys, journey_row, "call_id"))

    async def get(self, call_id: str) -> dict[str, Any] | None:
        """The journey as saved (`Journey.to_dict()`), or None."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(journeys.c.data).where(journeys.c.call_id == call_id))).first()
        return None if row is None else dict(row[0])
