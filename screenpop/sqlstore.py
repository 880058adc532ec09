"""`ScreenpopStore` on callpop's SQL database (SQLite or PostgreSQL, one async engine).

Short transactions only: each method is one statement or one read-then-write in a
transaction that takes SQLite's write lock at BEGIN (`crm_adapter.sql.engine.writer`),
so a panel never holds the database while an agent thinks.

The statements on the pop path (the pop history, the journey of a call this process
did not see) are built once: through SQLAlchemy's async layer every statement costs
its construction plus several hops to the driver's thread, so the history goes in
one upsert per batch and the journey and caller come in one read, which on SQLite is
made on the loop thread (`crm_adapter.sql.reader.SqliteReader`: ~20 µs instead of ~400 µs
through the pool and aiosqlite's thread).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.sql.engine import writer
from crm_adapter.sql.limits import LIMITS
from crm_adapter.sql.reader import LoopReads
from crm_adapter.sql.tables import (
    agents,
    calls,
    embed_tokens_used,
    interactions,
    journeys,
    pops,
    queue_events,
    session_revocations,
)
from screenpop.store import (
    ROLES,
    Account,
    AccountExists,
    CallRow,
    PopRecord,
    QueueDay,
    QueueEventRecord,
    Role,
    StoredPop,
    StoredPopState,
    StoreError,
)

__all__ = ["SqlScreenpopStore"]

_STATE_TIME_COLUMN = {
    "live": "connected_at",
    "wrapup": "wrapup_at",
    "done": "ended_at",
    "retracted": "ended_at",
}


def _account(row: RowMapping) -> Account:
    return Account(
        id=str(row["id"]),
        name=row["name"],
        interface=row["interface"],
        role=cast(Role, row["role"]),
        password_hash=row["password_hash"],
        active=bool(row["active"]),
    )


def _agent_pk(agent_id: str) -> int | None:
    # ids reach us from cookies and URLs: anything but a plain integer is nobody
    return int(agent_id) if agent_id.isdigit() and len(agent_id) < 12 else None


_JOURNEY_AND_CALLER = select(
    select(journeys.c.data)
    .where(journeys.c.call_id == bindparam("call_id"))
    .scalar_subquery()
    .label("data"),
    select(calls.c.caller)
    .where(calls.c.call_id == bindparam("call_id"))
    .scalar_subquery()
    .label("caller"),
    select(calls.c.caller_name)
    .where(calls.c.call_id == bindparam("call_id"))
    .scalar_subquery()
    .label("caller_name"),
)


# The same read as `_JOURNEY_AND_CALLER`, for the SQLite reader (JSON is stored as text).
_JOURNEY_AND_CALLER_SQLITE = (
    "SELECT (SELECT data FROM journeys WHERE call_id = ?1),"
    " (SELECT caller FROM calls WHERE call_id = ?1),"
    " (SELECT caller_name FROM calls WHERE call_id = ?1)"
)


def _pop_upsert(dialect: str) -> Any:
    """One row per (call, agent): a batch's rows are merged first (`_merged`), so a time
    column left None means "not changed by this batch", and keeps what was there."""
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(pops)
    kept = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[pops.c.call_id, pops.c.agent_id],
        set_={
            "state": kept.state,
            "updated_at": kept.updated_at,
            **{column: kept[column] for column in _POP_FIELDS},
            **{
                column: func.coalesce(kept[column], pops.c[column])
                for column in ("connected_at", "wrapup_at", "ended_at", "pbx")
            },
        },
    )


def _choice_upsert(dialect: str) -> Any:
    """The agent's choice on the call's row. A call with no row yet (its journey is
    still in the writer's batch, or it never went through the IVR) gets one, which the
    journey's own upsert fills in later without touching the choice."""
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(calls)
    kept = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[calls.c.call_id],
        set_={name: kept[name] for name in ("chosen_customer_id", "chosen_by", "chosen_at")},
    )


def _queue_event_insert(dialect: str) -> Any:
    """Each instance writes the events it sees: the second copy of one is dropped."""
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(queue_events)
    return stmt.on_conflict_do_nothing(
        index_elements=[
            queue_events.c.call_id,
            queue_events.c.kind,
            queue_events.c.interface,
            queue_events.c.at,
        ]
    )


# The pop as it stands, written with every change: what a restart shows again.
_POP_FIELDS = ("queue", "interface", "notes", "disposition", "reason", "offers")
_ACTIVE_STATES = ("offered", "live", "wrapup")
# Rows that end a call's wait in the queues (the wallboard's "waiting").
_WAIT_ENDS = ("connected", "abandoned", "left", "hungup")


def _merged(records: Sequence[PopRecord]) -> list[dict[str, Any]]:
    """The rows that `record_pop` one record at a time would leave, one per (call, agent):
    the first record's time is when the pop was offered (if the row is new), the last
    one's state is the state, and each state's time column holds its latest time."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for record in records:
        pk = _agent_pk(record.agent_id)
        if pk is None:
            raise StoreError(f"no agent {record.agent_id!r}")
        row = rows.get((record.call_id, pk))
        if row is None:
            row = rows[(record.call_id, pk)] = {
                "call_id": record.call_id,
                "agent_id": pk,
                "offered_at": record.at,
                "connected_at": None,
                "wrapup_at": None,
                "ended_at": None,
                "pbx": None,
            }
        row["state"] = record.state
        if record.pbx:
            row["pbx"] = record.pbx[:64]
        row["updated_at"] = record.at
        for name in _POP_FIELDS:
            row[name] = getattr(record, name)
        column = _STATE_TIME_COLUMN.get(record.state) if record.moved else None
        if column is not None:
            row[column] = record.at
    # In key order: instances upserting overlapping batches then lock the rows in one
    # order, so they wait for each other instead of deadlocking (PostgreSQL would abort
    # one batch after `deadlock_timeout`, and the writer fall back to row by row).
    return [rows[key] for key in sorted(rows)]


def _queue_rows(records: Sequence[QueueEventRecord]) -> list[dict[str, Any]]:
    # In bus order, as every instance reads it (their ids are the order of the events):
    # two instances insert common events in the same order, so they never deadlock.
    return [
        {
            "call_id": r.call_id,
            "kind": r.kind,
            "at": r.at,
            "queue": r.queue[:128],
            "interface": r.interface[:128],
            "agent_id": None if r.agent_id is None else _agent_pk(r.agent_id),
            "reason": None if r.reason is None else r.reason[:32],
        }
        for r in records
    ]


class SqlScreenpopStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sqlite_reader: bool = True,
    ) -> None:
        """`sqlite_reader=False` keeps every read on the async engine (the reference
        the reader is tested against)."""
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock
        self._pop_upsert = _pop_upsert(engine.dialect.name)
        self._queue_event_insert = _queue_event_insert(engine.dialect.name)
        self._choice_upsert = _choice_upsert(engine.dialect.name)
        # SQLite's reads on the loop thread, closed with the engine
        self._loop_reads = LoopReads(engine, enabled=sqlite_reader)

    @property
    def reads_on_loop(self) -> bool:
        """Whether the SQLite reader is open: pop reads answer without leaving the loop."""
        return self._loop_reads.open

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any] | None:
        """The rows from the SQLite reader, or None (none, or it could not answer:
        the async path then answers, and reports what is wrong)."""
        return self._loop_reads.rows(sql, params)

    async def account_by_name(self, name: str) -> Account | None:
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(agents).where(agents.c.name == name, agents.c.active.is_(True))
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _account(row)

    async def account(self, agent_id: str) -> Account | None:
        pk = _agent_pk(agent_id)
        if pk is None:
            return None
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(agents).where(agents.c.id == pk, agents.c.active.is_(True))
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _account(row)

    async def accounts(self) -> list[Account]:
        async with self._engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(agents).where(agents.c.active.is_(True)).order_by(agents.c.name)
                    )
                )
                .mappings()
                .all()
            )
        return [_account(row) for row in rows]

    async def add_account(
        self,
        name: str,
        interface: str,
        role: Role,
        password_hash: str,
        *,
        created_at: datetime | None = None,
    ) -> Account:
        if role not in ROLES:
            raise StoreError(f"role is one of {', '.join(ROLES)}, not {role!r}")
        if not name or len(name) > agents.c.name.type.length:  # type: ignore[attr-defined]
            raise StoreError("an agent name has 1 to 64 characters")
        if not interface or len(interface) > agents.c.interface.type.length:  # type: ignore[attr-defined]
            raise StoreError("an interface has 1 to 128 characters, e.g. PJSIP/101")
        async with self._writer.begin() as conn:
            clash = (
                await conn.execute(
                    select(agents.c.name, agents.c.interface).where(
                        (func.lower(agents.c.name) == name.lower())
                        | (func.upper(agents.c.interface) == interface.upper())
                    )
                )
            ).first()
            if clash is not None:
                what = (
                    f"name {clash.name!r}"
                    if clash.name.lower() == name.lower()
                    else f"interface {clash.interface!r}"
                )
                raise AccountExists(f"an agent with the {what} already exists")
            try:
                result = await conn.execute(
                    insert(agents).values(
                        name=name,
                        interface=interface,
                        role=role,
                        password_hash=password_hash,
                        active=True,
                        created_at=created_at or self._clock(),
                    )
                )
            except IntegrityError as exc:  # a concurrent add won the race
                raise AccountExists(f"agent {name!r} or interface {interface!r} exists") from exc
            pk = result.inserted_primary_key[0] if result.inserted_primary_key else None
        return Account(str(pk), name, interface, role, password_hash)

    async def set_password_hash(self, agent_id: str, password_hash: str) -> None:
        pk = _agent_pk(agent_id)
        if pk is None:
            raise StoreError(f"no agent {agent_id!r}")
        async with self._writer.begin() as conn:
            await conn.execute(
                update(agents).where(agents.c.id == pk).values(password_hash=password_hash)
            )

    async def journey(self, call_id: str) -> Mapping[str, Any] | None:
        async with self._engine.connect() as conn:
            data = (
                await conn.execute(select(journeys.c.data).where(journeys.c.call_id == call_id))
            ).scalar()
        return data if isinstance(data, Mapping) else None

    async def call(self, call_id: str) -> Mapping[str, Any] | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(calls).where(calls.c.call_id == call_id)))
                .mappings()
                .first()
            )
        return None if row is None else dict(row)

    async def record_customer_choice(
        self,
        call_id: str,
        customer_id: str,
        *,
        agent: str,
        at: datetime,
        caller: str = "",
        caller_name: str = "",
        started_at: datetime | None = None,
    ) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(
                self._choice_upsert,
                {
                    "call_id": call_id[: LIMITS["call_id"]],
                    "flow": "",
                    "caller": caller[:64],
                    "caller_name": caller_name[:200],
                    "started_at": started_at or at,
                    "chosen_customer_id": customer_id[: LIMITS["external_id"]],
                    "chosen_by": agent[: LIMITS["agent"]],
                    "chosen_at": at,
                },
            )

    async def journey_and_caller(
        self, call_id: str
    ) -> tuple[Mapping[str, Any] | None, tuple[str, str] | None]:
        rows = self._read(_JOURNEY_AND_CALLER_SQLITE, (call_id,))
        if rows is not None:
            text, caller, caller_name = rows[0]
            data = None if text is None else json.loads(text)
        else:
            async with self._engine.connect() as conn:
                data, caller, caller_name = (
                    await conn.execute(_JOURNEY_AND_CALLER, {"call_id": call_id})
                ).one()
        # both columns are NOT NULL: NULLs here mean there is no `calls` row
        who = None if caller is None and caller_name is None else (caller or "", caller_name or "")
        return (data if isinstance(data, Mapping) else None), who

    async def record_pop(
        self, call_id: str, agent_id: str, state: StoredPopState, at: datetime
    ) -> None:
        await self.record_pops([PopRecord(call_id, agent_id, state, at)])

    async def record_pops(self, records: Sequence[PopRecord]) -> None:
        await self.record_history(records, ())

    async def record_history(
        self, records: Sequence[PopRecord], queue_events: Sequence[QueueEventRecord]
    ) -> None:
        rows = _merged(records)
        events = _queue_rows(queue_events)
        if not rows and not events:
            return
        async with self._writer.begin() as conn:
            if rows:
                await conn.execute(self._pop_upsert, rows)
            if events:
                await conn.execute(self._queue_event_insert, events)

    async def active_pops(self, since: datetime) -> list[StoredPop]:
        query = (
            select(
                pops.c.call_id,
                pops.c.agent_id,
                pops.c.state,
                pops.c.updated_at,
                pops.c.connected_at,
                pops.c.wrapup_at,
                pops.c.pbx,
                *(pops.c[n] for n in _POP_FIELDS),
            )
            .where(and_(pops.c.state.in_(_ACTIVE_STATES), pops.c.updated_at >= since))
            .order_by(pops.c.offered_at, pops.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            StoredPop(
                call_id=r["call_id"],
                agent_id=str(r["agent_id"]),
                state=r["state"],
                # when the pop entered its state: the state's own column, else its last change
                since=(
                    r["connected_at"]
                    if r["state"] == "live"
                    else r["wrapup_at"]
                    if r["state"] == "wrapup"
                    else None
                )
                or r["updated_at"],
                queue=r["queue"],
                interface=r["interface"],
                notes=r["notes"],
                disposition=r["disposition"],
                offers=r["offers"],
                pbx=r["pbx"] or "",
            )
            for r in rows
        ]

    async def ringing_or_talking_on(self, pbx: str, since: datetime) -> set[str]:
        """The calls with a pop offered or live, changed since `since`, that the Asterisk
        `pbx` reported (`pops.pbx`)."""
        query = (
            select(pops.c.call_id)
            .where(
                and_(
                    pops.c.pbx == pbx,
                    pops.c.state.in_(("offered", "live")),
                    pops.c.updated_at >= since,
                )
            )
            .distinct()
        )
        async with self._engine.connect() as conn:
            return set((await conn.execute(query)).scalars())

    async def queue_day(self, since: datetime) -> QueueDay:
        ended = queue_events.alias("ended")
        counted = (
            select(queue_events.c.kind, queue_events.c.call_id)
            .where(
                and_(
                    queue_events.c.at >= since,
                    or_(
                        and_(queue_events.c.kind == "left", queue_events.c.reason == "connected"),
                        queue_events.c.kind == "abandoned",
                    ),
                )
            )
            .distinct()
        )
        waiting = (
            select(
                queue_events.c.queue,
                queue_events.c.call_id,
                queue_events.c.at,
                func.coalesce(calls.c.caller, ""),
            )
            .select_from(queue_events.outerjoin(calls, calls.c.call_id == queue_events.c.call_id))
            .where(
                and_(
                    queue_events.c.kind == "joined",
                    queue_events.c.at >= since,
                    ~select(ended.c.id)
                    .where(
                        and_(
                            ended.c.call_id == queue_events.c.call_id,
                            ended.c.kind.in_(_WAIT_ENDS),
                            ended.c.at >= queue_events.c.at,
                        )
                    )
                    .exists(),
                )
            )
            .order_by(queue_events.c.at)
        )
        async with self._engine.connect() as conn:
            ends = (await conn.execute(counted)).all()
            rows = (await conn.execute(waiting)).all()
        return QueueDay(
            handled=frozenset(call_id for kind, call_id in ends if kind == "left"),
            abandoned=frozenset(call_id for kind, call_id in ends if kind == "abandoned"),
            waiting=tuple((r[0], r[1], r[2], r[3]) for r in rows),
        )

    async def calls_of(self, agent_id: str, since: datetime, limit: int = 50) -> list[CallRow]:
        pk = _agent_pk(agent_id)
        if pk is None:
            return []
        query = (
            select(
                pops.c.call_id,
                pops.c.state,
                pops.c.offered_at,
                pops.c.connected_at,
                pops.c.wrapup_at,
                pops.c.ended_at,
                calls.c.caller,
                calls.c.caller_name,
                func.coalesce(
                    interactions.c.customer_id, calls.c.chosen_customer_id, calls.c.customer_id
                ).label("customer_id"),
                interactions.c.disposition,
                pops.c.reason,
            )
            .select_from(
                pops.outerjoin(calls, calls.c.call_id == pops.c.call_id).outerjoin(
                    interactions, interactions.c.call_id == pops.c.call_id
                )
            )
            .where(
                and_(
                    pops.c.agent_id == pk,
                    pops.c.offered_at >= since,
                    # missed calls stay in the agent's history; ring-all's losers do not
                    or_(
                        pops.c.state != "retracted",
                        func.coalesce(pops.c.reason, "") != "answered_elsewhere",
                    ),
                )
            )
            .order_by(pops.c.offered_at.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            CallRow(
                call_id=r["call_id"],
                state=r["state"],
                offered_at=r["offered_at"],
                connected_at=r["connected_at"],
                ended_at=r["ended_at"],
                caller=r["caller"] or "",
                caller_name=r["caller_name"] or "",
                customer_id=r["customer_id"],
                disposition=r["disposition"],
                reason=r["reason"] if r["state"] == "retracted" else None,
                wrapup_at=r["wrapup_at"],
            )
            for r in rows
        ]

    async def revoke_session(self, nonce: str, expires: datetime) -> None:
        now = self._clock()
        async with self._writer.begin() as conn:
            # the list stays small: sessions past their expiry need no revocation
            await conn.execute(
                delete(session_revocations).where(session_revocations.c.expires_at <= now)
            )
            known = (
                await conn.execute(
                    select(session_revocations.c.nonce).where(session_revocations.c.nonce == nonce)
                )
            ).first()
            if known is None:
                await conn.execute(
                    insert(session_revocations).values(
                        nonce=nonce, revoked_at=now, expires_at=expires
                    )
                )

    async def use_embed_token(self, token_id: str, expires: datetime) -> bool:
        now = self._clock()
        try:
            async with self._writer.begin() as conn:
                await conn.execute(
                    delete(embed_tokens_used).where(embed_tokens_used.c.expires_at <= now)
                )
                await conn.execute(
                    insert(embed_tokens_used).values(token_id=token_id, expires_at=expires)
                )
        except IntegrityError:
            return False  # used before, here or on another instance
        return True

    async def session_account(self, agent_id: str, nonce: str) -> Account | None:
        pk = _agent_pk(agent_id)
        if pk is None:
            return None
        revoked = (
            select(session_revocations.c.nonce).where(session_revocations.c.nonce == nonce).exists()
        )
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(agents).where(agents.c.id == pk, agents.c.active.is_(True), ~revoked)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _account(row)

    async def session_revoked(self, nonce: str) -> bool:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(session_revocations.c.nonce).where(session_revocations.c.nonce == nonce)
                )
            ).first()
        return row is not None

    async def revoked_since(self, since: datetime) -> list[tuple[str, datetime]]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(session_revocations.c.nonce, session_revocations.c.revoked_at)
                    .where(session_revocations.c.revoked_at >= since)
                    .order_by(session_revocations.c.revoked_at)
                )
            ).all()
        return [(row.nonce, row.revoked_at) for row in rows]
