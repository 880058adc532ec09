"""Which callpop instance consumes an Asterisk's AMI: a lease per AMI connection.

Several instances behind one PostgreSQL must not all turn one Asterisk's queue events
into pops (each would publish every event), nor may a dead holder leave the Asterisk
unheard. The lease is a PostgreSQL session-level advisory lock taken on a connection of
its own (not the pool's): PostgreSQL releases it the moment that session ends, so a
holder killed with SIGKILL frees it as soon as its socket closes, and a holder cut off
from the database by the network is dropped by the server's TCP keepalives (set short on
this session) while the holder, checking its session every `interval_s`, stops first.

Why not a Redis key with an expiry renewed by the holder: a holder that stalls past the
expiry (a long GC pause, a stopped VM) goes on consuming while another instance already
took the key, and nothing tells it; with the advisory lock, the lock lives exactly as
long as the session that holds it, and the holder's check of that session is the same
fact the server acts on. Redis stays for the pop bus (docs/asterisk.md).

The lock key is derived by PostgreSQL (`hashtextextended`) from the database, the
schema and the Asterisk's label, so two deployments (or two test runs) sharing a server
never contend. With SQLite there is one instance, so there is no lease (`NoLease`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import asyncpg

from crm_adapter.sql.engine import async_url

__all__ = [
    "AMI_NAMESPACE",
    "LEASE_KEY_SQL",
    "AmiLease",
    "NoLease",
    "PgAdvisoryLease",
    "lease_dsn",
    "lease_holder",
]

log = logging.getLogger("callpop.ami")

LEASE_KEY_SQL = (
    "SELECT hashtextextended($2::text || '/' || current_database() || '/' || current_schema()"
    " || '/' || $1::text, 0)"
)
"""The lock key of the lease ($1 the label, $2 the namespace), as PostgreSQL derives it."""
AMI_NAMESPACE = "callpop-ami"
# The session holding an advisory lock on key K has a pg_locks row with classid, objid
# the high and low 32 bits of K and objsubid 1.
_HOLDER_SQL = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = $1 AND l.objid::bigint = $2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class AmiLease(Protocol):
    """What `LeasedListener` needs: wait for the lease, then wait until it is lost."""

    async def acquire(self) -> None:
        """Returns once this instance holds the lease."""

    async def until_lost(self) -> None:
        """Returns when the lease is no longer certainly held."""

    async def release(self) -> None:
        """Gives the lease up (on shutdown)."""


class NoLease:
    """A single instance (SQLite): always the holder."""

    async def acquire(self) -> None:
        return None

    async def until_lost(self) -> None:
        await asyncio.Event().wait()

    async def release(self) -> None:
        return None


def lease_dsn(database_url: str) -> str | None:
    """The asyncpg DSN of a `postgresql://` database URL; None for SQLite (no lease)."""
    url = async_url(database_url)  # `postgres://` too, as the engine reads it
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def lease_holder(
    conn: asyncpg.Connection[Any], label: str, namespace: str = AMI_NAMESPACE
) -> str | None:
    """Who holds the lease `label` now (`HOST/PID`), asked on any session of the
    database: None when nobody does."""
    key = int(await conn.fetchval(LEASE_KEY_SQL, label, namespace))
    return await _holder_of(conn, key)


async def _holder_of(conn: asyncpg.Connection[Any], key: int) -> str | None:
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    name = await conn.fetchval(_HOLDER_SQL, unsigned >> 32, unsigned & 0xFFFF_FFFF)
    return str(name).removeprefix("callpop ") if name else None


class PgAdvisoryLease:
    """The lease of the Asterisk `label`, as a session-level advisory lock.

    `instance` names this process in `pg_stat_activity.application_name`, which is how a
    standby says who holds the lease. `server_settings` go to the lease's session (the
    tests give a `search_path`). `namespace` and `subject` make it another kind of
    lease (the pop history's writer: its own keys, its own log lines).
    """

    def __init__(
        self,
        dsn: str,
        label: str,
        *,
        instance: str,
        interval_s: float = 1.0,
        connect_timeout_s: float = 5.0,
        server_settings: dict[str, str] | None = None,
        namespace: str = AMI_NAMESPACE,
        subject: str | None = None,
    ) -> None:
        self.label = label
        self._namespace = namespace
        self.subject = subject or f"AMI {label}"
        self.instance = instance
        self._dsn = dsn
        self._interval = interval_s
        self._connect_timeout = connect_timeout_s
        self._settings = {
            **(server_settings or {}),
            "application_name": f"callpop {instance}"[:63],
            # a holder whose host vanished is dropped within ~idle + interval * count
            "tcp_keepalives_idle": "2",
            "tcp_keepalives_interval": "1",
            "tcp_keepalives_count": "3",
        }
        self._conn: asyncpg.Connection[Any] | None = None
        self._key: int | None = None
        self.held = False
        self.acquisitions = 0

    async def acquire(self) -> None:
        """Ask every `interval_s` until granted; logs who holds it, and database trouble,
        once per change, not per attempt."""
        waited_for: str | None = None
        database_down = False
        while True:
            try:
                conn = await self._session()
                granted = await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key)
                if not granted:
                    # None: the holder let go between our two queries
                    holder = await self._holder(conn) or waited_for or "another instance"
                    if holder != waited_for:
                        log.info("%s: lease held by %s; standing by", self.subject, holder)
                        waited_for = holder
                database_down = False
            except _DB_ERRORS as exc:
                await self._drop_session()
                granted = False
                if not database_down:
                    log.warning(
                        "%s: cannot reach the database for the lease (%s); retrying",
                        self.subject,
                        exc,
                    )
                    database_down = True
            if granted:
                self.held = True
                self.acquisitions += 1
                if waited_for is not None:
                    log.warning("%s: lease taken over from %s", self.subject, waited_for)
                else:
                    log.info("%s: lease acquired", self.subject)
                return
            await asyncio.sleep(self._interval)

    async def until_lost(self) -> None:
        """Return once the holding session ends: at once when the server closes it (the
        session was terminated, the server restarted), else when the check every
        `interval_s` fails (a silent network)."""
        conn = self._conn
        ended = asyncio.Event()
        if conn is not None:
            conn.add_termination_listener(lambda _conn: ended.set())
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), self._interval)
            try:
                if conn is None or ended.is_set() or conn.is_closed():
                    raise asyncpg.InterfaceError("the lease session was closed")
                async with asyncio.timeout(max(self._interval, 1.0)):
                    await conn.fetchval("SELECT 1")
            except _DB_ERRORS as exc:
                self.held = False
                await self._drop_session()
                log.warning("%s: lease lost (%s)", self.subject, exc)
                return

    async def release(self) -> None:
        if self.held:
            log.info("%s: lease released", self.subject)
        self.held = False
        await self._drop_session()

    async def _session(self) -> asyncpg.Connection[Any]:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self._dsn, timeout=self._connect_timeout, server_settings=self._settings
            )
            self._key = int(await self._conn.fetchval(LEASE_KEY_SQL, self.label, self._namespace))
        return self._conn

    async def _holder(self, conn: asyncpg.Connection[Any]) -> str | None:
        assert self._key is not None
        return await _holder_of(conn, self._key)

    async def _drop_session(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            # closing the session is what releases the lock: no unlock round trip needed
            with contextlib.suppress(*_DB_ERRORS):
                await asyncio.wait_for(conn.close(), 2.0)
            if not conn.is_closed():
                conn.terminate()
