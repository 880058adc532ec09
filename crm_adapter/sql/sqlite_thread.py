"""A SQLite connection kept on a thread of its own, for a process with an event loop
(`serve`'s journey writes: `callpop/journeys.py`)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from crm_adapter.sql.sqlite_file import connect

__all__ = ["SqliteThread"]

T = TypeVar("T")


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
