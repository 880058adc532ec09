"""`ScreenpopStore` on callpop's SQL database (SQLite or PostgreSQL, one async engine).

Short transactions only: each method is one statement or one read-then-write in a
transaction that takes SQLite's write lock at BEGIN (`crm_adapter.sql.engine.writer`),
so a panel never holds the database while an agent thinks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.sql.engine import writer
from crm_adapter.sql.tables import agents, calls, interactions, journeys, pops
from screenpop.store import (
    ROLES,
    Account,
    AccountExists,
    CallRow,
    Role,
    StoredPopState,
    StoreError,
)

__all__ = ["SqlScreenpopStore"]

_STATE_TIME_COLUMN = {"live": "connected_at", "wrapup": "wrapup_at", "done": "ended_at",
                      "retracted": "ended_at"}


def _account(row: RowMapping) -> Account:
    return Account(id=str(row["id"]), name=row["name"], interface=row["interface"],
                   role=cast(Role, row["role"]), password_hash=row["password_hash"],
                   active=bool(row["active"]))


def _agent_pk(agent_id: str) -> int | None:
    # ids reach us from cookies and URLs: anything but a plain integer is nobody
    return int(agent_id) if agent_id.isdigit() and len(agent_id) < 12 else None


class SqlScreenpopStore:
    def __init__(self, engine: AsyncEngine, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock

    async def account_by_name(self, name: str) -> Account | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(
                select(agents).where(agents.c.name == name, agents.c.active.is_(True))
            )).mappings().first()
        return None if row is None else _account(row)

    async def account(self, agent_id: str) -> Account | None:
        pk = _agent_pk(agent_id)
        if pk is None:
            return None
        async with self._engine.connect() as conn:
            row = (await conn.execute(
                select(agents).where(agents.c.id == pk, agents.c.active.is_(True))
            )).mappings().first()
        return None if row is None else _account(row)

    async def accounts(self) -> list[Account]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(agents).where(agents.c.active.is_(True)).order_by(agents.c.name)
            )).mappings().all()
        return [_account(row) for row in rows]

    async def add_account(self, name: str, interface: str, role: Role,
                          password_hash: str, *, created_at: datetime | None = None) -> Account:
        if role not in ROLES:
            raise StoreError(f"role is one of {', '.join(ROLES)}, not {role!r}")
        if not name or len(name) > agents.c.name.type.length:  # type: ignore[attr-defined]
            raise StoreError("an agent name has 1 to 64 characters")
        if not interface or len(interface) > agents.c.interface.type.length:  # type: ignore[attr-defined]
            raise StoreError("an interface has 1 to 128 characters, e.g. PJSIP/101")
        async with self._writer.begin() as conn:
            clash = (await conn.execute(
                select(agents.c.name, agents.c.interface).where(
                    (func.lower(agents.c.name) == name.lower())
                    | (func.upper(agents.c.interface) == interface.upper()))
            )).first()
            if clash is not None:
                what = (f"name {clash.name!r}" if clash.name.lower() == name.lower()
                        else f"interface {clash.interface!r}")
                raise AccountExists(f"an agent with the {what} already exists")
            try:
                result = await conn.execute(insert(agents).values(
                    name=name, interface=interface, role=role, password_hash=password_hash,
                    active=True, created_at=created_at or self._clock()))
            except IntegrityError as exc:  # a concurrent add won the race
                raise AccountExists(f"agent {name!r} or interface {interface!r} exists") from exc
            pk = result.inserted_primary_key[0] if result.inserted_primary_key else None
        return Account(str(pk), name, interface, role, password_hash)

    async def set_password_hash(self, agent_id: str, password_hash: str) -> None:
        pk = _agent_pk(agent_id)
        if pk is None:
            raise StoreError(f"no agent {agent_id!r}")
        async with self._writer.begin() as conn:
            await conn.execute(update(agents).where(agents.c.id == pk)
                               .values(password_hash=password_hash))

    async def journey(self, call_id: str) -> Mapping[str, Any] | None:
        async with self._engine.connect() as conn:
            data = (await conn.execute(
                select(journeys.c.data).where(journeys.c.call_id == call_id))).scalar()
        return data if isinstance(data, Mapping) else None

    async def call(self, call_id: str) -> Mapping[str, Any] | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(
                select(calls).where(calls.c.call_id == call_id))).mappings().first()
        return None if row is None else dict(row)

    async def record_pop(self, call_id: str, agent_id: str, state: StoredPopState,
                         at: datetime) -> None:
        pk = _agent_pk(agent_id)
        if pk is None:
            raise StoreError(f"no agent {agent_id!r}")
        values: dict[str, Any] = {"state": state, "updated_at": at}
        column = _STATE_TIME_COLUMN.get(state)
        if column is not None:
            values[column] = at
        async with self._writer.begin() as conn:
            done = await conn.execute(update(pops).where(
                pops.c.call_id == call_id, pops.c.agent_id == pk).values(**values))
            if done.rowcount == 0:
                await conn.execute(insert(pops).values(
                    call_id=call_id, agent_id=pk, offered_at=at, **values))

    async def calls_of(self, agent_id: str, since: datetime, limit: int = 50) -> list[CallRow]:
        pk = _agent_pk(agent_id)
        if pk is None:
            return []
        query = (
            select(pops.c.call_id, pops.c.state, pops.c.offered_at, pops.c.connected_at,
                   pops.c.ended_at, calls.c.caller, calls.c.caller_name,
                   func.coalesce(interactions.c.customer_id, calls.c.customer_id)
                   .label("customer_id"),
                   interactions.c.disposition)
            .select_from(
                pops.outerjoin(calls, calls.c.call_id == pops.c.call_id)
                .outerjoin(interactions, interactions.c.call_id == pops.c.call_id))
            .where(and_(pops.c.agent_id == pk, pops.c.offered_at >= since,
                        pops.c.state != "retracted"))
            .order_by(pops.c.offered_at.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [CallRow(call_id=r["call_id"], state=r["state"], offered_at=r["offered_at"],
                        connected_at=r["connected_at"], ended_at=r["ended_at"],
                        caller=r["caller"] or "", caller_name=r["caller_name"] or "",
                        customer_id=r["customer_id"], disposition=r["disposition"])
                for r in rows]

