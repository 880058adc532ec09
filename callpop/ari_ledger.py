"""`ivr.ari.ledger.SessionLedger` in the shared database (`ari_instances`, `ari_sessions`).

An instance is alive while its heartbeat is younger than `stale_after_s` (three
heartbeats by default): the instances' clocks must agree to within a second or so
(NTP), as for any shared timestamp. A session's owner is its row's instance; a channel
in Stasis with no row belongs to the instances that registered its app. Owner alive:
leave it; owner's heartbeat stale or its row gone: orphaned.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_adapter.sql.tables import ari_instances, ari_sessions
from ivr.ari.ledger import Claims, LedgerUnavailable

__all__ = ["FORGOTTEN_AFTER", "SqlAriLedger"]

# An instance silent this long is forgotten with its sessions' records.
FORGOTTEN_AFTER = timedelta(days=1)

P = ParamSpec("P")
R = TypeVar("R")


def _unavailable(method: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """The database's failures as the ledger's one error (ivr knows no SQLAlchemy)."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            raise LedgerUnavailable(str(exc).splitlines()[0] if str(exc) else repr(exc)) from exc

    return wrapper


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlAriLedger:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        instance: str,
        app: str,
        stale_after_s: float = 6.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.instance = instance
        self.app = app
        self._engine = engine
        self._stale_after = timedelta(seconds=stale_after_s)
        self._clock = clock

    @_unavailable
    async def heartbeat(self) -> None:
        now = self._clock()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(ari_instances)
                .where(ari_instances.c.instance == self.instance)
                .values(app=self.app, heartbeat_at=now)
            )
            if result.rowcount == 0:  # this instance's first beat: forget the long dead
                await self._prune(conn, now - FORGOTTEN_AFTER)
                await conn.execute(
                    insert(ari_instances).values(
                        instance=self.instance, app=self.app, heartbeat_at=now
                    )
                )

    @staticmethod
    async def _prune(conn: AsyncConnection, before: datetime) -> None:
        """Instances silent since `before` (an instance is `HOST/PID`: every restart is a
        new one) and the sessions they left, whose callers were sent on or hung up long ago."""
        dead = select(ari_instances.c.instance).where(ari_instances.c.heartbeat_at < before)
        await conn.execute(delete(ari_sessions).where(ari_sessions.c.instance.in_(dead)))
        await conn.execute(delete(ari_instances).where(ari_instances.c.heartbeat_at < before))

    @_unavailable
    async def session_started(self, channel_id: str, call_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(ari_sessions).where(ari_sessions.c.channel_id == channel_id))
            await conn.execute(
                insert(ari_sessions).values(
                    channel_id=channel_id,
                    call_id=call_id,
                    app=self.app,
                    instance=self.instance,
                    started_at=self._clock(),
                )
            )

    @_unavailable
    async def session_ended(self, channel_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(ari_sessions).where(
                    ari_sessions.c.channel_id == channel_id,
                    ari_sessions.c.instance == self.instance,
                )
            )

    @_unavailable
    async def claims(self, in_stasis: Mapping[str, str]) -> Claims:
        if not in_stasis:
            return Claims(frozenset(), {})
        async with self._engine.connect() as conn:
            owners = dict(
                (
                    await conn.execute(
                        select(ari_sessions.c.channel_id, ari_sessions.c.instance).where(
                            ari_sessions.c.channel_id.in_(list(in_stasis))
                        )
                    )
                ).all()
            )
            instances = (
                await conn.execute(
                    select(
                        ari_instances.c.instance, ari_instances.c.app, ari_instances.c.heartbeat_at
                    )
                )
            ).all()
        oldest_alive = self._clock() - self._stale_after
        alive = {row.instance for row in instances if row.heartbeat_at >= oldest_alive}
        by_app: dict[str, set[str]] = {}
        for row in instances:
            by_app.setdefault(row.app, set()).add(row.instance)
        live: set[str] = set()
        orphaned: dict[str, str] = {}
        for channel_id, app in in_stasis.items():
            owner = owners.get(channel_id)
            if owner == self.instance:
                continue  # ours, though not in memory: this app's own resync decides
            candidates = {owner} if owner is not None else by_app.get(app, set())
            if not candidates:
                continue  # an app no callpop instance ran: not ours to touch
            if candidates & alive:
                live.add(channel_id)
            else:
                orphaned[channel_id] = owner or sorted(candidates)[0]
        return Claims(frozenset(live), orphaned)

    @_unavailable
    async def retire(self) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(ari_sessions).where(ari_sessions.c.instance == self.instance))
            await conn.execute(
                delete(ari_instances).where(ari_instances.c.instance == self.instance)
            )
