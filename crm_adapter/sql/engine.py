"""Async engines from the plain URLs of callpop.yaml.

Admins write `sqlite:///./callpop.db` or `postgresql://user@host/db`; the async
drivers (aiosqlite, asyncpg) are chosen here, so the config never names a driver.

SQLite gets the settings a small always-on server wants: WAL (readers never block
the writer, so IVR lookups go on while an import runs), `synchronous=NORMAL` (durable
at each checkpoint, safe with WAL), foreign keys on, a busy timeout instead of an
immediate "database is locked", and a page cache big enough to hold the phone index.
pysqlite's own transaction handling is switched off (SQLAlchemy's documented recipe)
so that a write transaction can start with `BEGIN IMMEDIATE`: a deferred transaction
that reads and then writes fails with SQLITE_BUSY when another process wrote in
between, and the busy timeout cannot help it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from crm_adapter.sql.sqlite_file import SQLITE_PRAGMAS

__all__ = ["async_url", "create_engine", "writer"]


# Execution option naming the BEGIN a SQLite transaction starts with.
_BEGIN = "callpop_sqlite_begin"


def async_url(url: str | URL) -> URL:
    """`sqlite:///x.db` -> `sqlite+aiosqlite:///x.db`, `postgresql://` (or `postgres://`)
    -> `postgresql+asyncpg://`; any other database is refused with the reason."""
    parsed = make_url(url) if isinstance(url, str) else url
    backend = parsed.drivername.split("+", 1)[0]
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(
        f"unsupported database {parsed.drivername!r}: use sqlite:///PATH or postgresql://..."
    )


def create_engine(
    url: str | URL, *, search_path: str | None = None, echo: bool = False
) -> AsyncEngine:
    """An engine for `url`. `search_path` puts every table of a PostgreSQL connection in
    that schema (the tests use a schema per run)."""
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        return _sqlite_engine(target, echo)
    connect_args: dict[str, Any] = {}
    if search_path is not None:
        connect_args["server_settings"] = {"search_path": search_path}
    return create_async_engine(target, echo=echo, connect_args=connect_args, pool_pre_ping=False)


def _sqlite_engine(target: URL, echo: bool) -> AsyncEngine:
    memory = target.database in (None, "", ":memory:")
    # No reset when a connection goes back to the pool: SQLAlchemy has already rolled
    # back any transaction it began, pysqlite opens none of its own here (see the
    # module docstring), and the reset would cost a hop to aiosqlite's thread on
    # every lookup.
    kwargs: dict[str, Any] = {"echo": echo, "pool_reset_on_return": None}
    if memory:
        # One connection, shared: every new connection would be a new empty database.
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    engine = create_async_engine(target, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get(_BEGIN, 'DEFERRED')}")

    return engine


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool) whose transactions take SQLite's write lock at BEGIN;
    use it for every transaction that writes. On PostgreSQL it changes nothing."""
    return engine.execution_options(**{_BEGIN: "IMMEDIATE"})
