"""SQLite files through the standard library's `sqlite3`, without SQLAlchemy: the pragmas
every callpop connection sets, read-write connections (`connect`), the synchronous
read-only reader (its reasons are in `crm_adapter/sql/reader.py`) and a connection kept
on a thread of its own (`SqliteThread`). The classic AGI script uses these alone."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["SQLITE_PRAGMAS", "SqliteReader", "SqliteThread", "connect", "uri_path"]

T = TypeVar("T")

log = logging.getLogger("callpop.crm")

SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA cache_size=-65536",  # 64 MiB
    "PRAGMA temp_store=MEMORY",
    "PRAGMA mmap_size=268435456",  # 256 MiB
)

_PRAGMAS = (
    "PRAGMA query_only=1",  # belt and braces over mode=ro: this connection never writes
    "PRAGMA busy_timeout=0",  # never sleep on the loop; the async path waits instead
    "PRAGMA cache_size=-16384",  # 16 MiB of its own; the mmap shares the OS cache
    "PRAGMA mmap_size=268435456",  # 256 MiB, as the engine's connections
)


class SqliteReader:
    """Synchronous reads of one WAL database file; `open` returns None when it cannot
    give them (the caller then keeps its async path)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def open(cls, path: str) -> SqliteReader | None:
        try:
            conn = sqlite3.connect(
                f"{uri_path(path)}?mode=ro",
                uri=True,
                isolation_level=None,
                # Closed by whoever disposes of the engine, which may be another thread.
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            log.info("crm: no synchronous reader for %s (%s): reads go through the pool", path, exc)
            return None
        try:
            for pragma in _PRAGMAS:
                conn.execute(pragma)
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        except sqlite3.Error as exc:
            conn.close()
            log.info("crm: no synchronous reader for %s (%s): reads go through the pool", path, exc)
            return None
        if str(mode).lower() != "wal":
            # Outside WAL a reader waits for a committing writer: not on the loop.
            conn.close()
            log.info("crm: %s is not in WAL mode (%s): reads go through the pool", path, mode)
            return None
        return cls(conn)

    def rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Every row of one statement; raises `sqlite3.Error` (busy included).

        In autocommit mode each statement is its own read transaction, ended when
        `fetchall` has stepped it to the end: the next one sees every commit since.
        """
        return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self._conn.close()


def connect(
    path: str, *, busy_timeout_ms: int | None = None, check_same_thread: bool = True
) -> sqlite3.Connection:
    """A read-write connection to the file `path` with callpop's pragmas, in autocommit
    mode: a transaction is spelled out (`BEGIN IMMEDIATE` ... `COMMIT`), as the engine's
    are (crm_adapter/sql/engine.py). `busy_timeout_ms` replaces the pragmas' 10 s wait
    for another writer's lock."""
    conn = sqlite3.connect(
        uri_path(path), uri=True, isolation_level=None, check_same_thread=check_same_thread
    )
    try:
        for pragma in SQLITE_PRAGMAS:
            conn.execute(pragma)
        if busy_timeout_ms is not None:
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteThread:
    """One read-write connection to a SQLite file, used on a thread of its own.

    A transaction through aiosqlite costs a hop to its thread and back per statement,
    and each answer waits for a turn of the event loop: on a loop busy with thousands
    of calls, ~9 turns per transaction. Here the whole transaction is one function,
    `run` on this thread: one hop. The connection is opened on the thread at the first
    `run`; `close` closes it there once what was handed over has run, and a later `run`
    opens another (on a new thread).

    A cancelled `run` does not stop the function (a thread cannot be interrupted): it
    sets the `threading.Event` the function was given, which the function looks at to
    give up, and must end any transaction it began (COMMIT or ROLLBACK) either way, so
    the next function finds the connection out of any transaction and the lock free.
    """

    __slots__ = ("_executor", "_local", "_name", "_path")

    def __init__(self, path: str, *, name: str) -> None:
        self._path = path
        self._name = name
        # The connection of the current executor's one thread (a new thread gets its own).
        self._local = threading.local()
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[[sqlite3.Connection, threading.Event], T]) -> T:
        """`fn(connection, abandoned)` on the thread; `abandoned` is set if this is cancelled."""
        if self._executor is None:
            # Imported here: the classic script, a process per call, never runs one (~1 ms).
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        abandoned = threading.Event()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._call, fn, abandoned)
        except asyncio.CancelledError:
            abandoned.set()
            raise

    def _call(
        self, fn: Callable[[sqlite3.Connection, threading.Event], T], abandoned: threading.Event
    ) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # Used on this thread only; closed here too, but never refused elsewhere.
            conn = self._local.conn = connect(self._path, check_same_thread=False)
        return fn(conn, abandoned)

    def _close_here(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close the connection once the functions handed over have run (without waiting)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.submit(self._close_here)
            executor.shutdown(wait=False)

    async def aclose(self) -> None:
        """Close the connection once the functions handed over have run."""
        executor, self._executor = self._executor, None
        if executor is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(executor, self._close_here)
            finally:
                executor.shutdown(wait=False)


def uri_path(path: str) -> str:
    """`path` as a `file:` URI path: characters URIs reserve are percent-encoded."""
    encoded = path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    return f"file:{encoded}"
