"""The SQLite store's reads on the event loop thread, with no hop to aiosqlite's thread.

An indexed read of a local SQLite database costs 10-30 µs of CPU. Through the async
engine the same read costs ~150 µs more: a pool checkout, a trip through aiosqlite's
queue to its thread, the thread's wake-up and `call_soon_threadsafe` back, SQLAlchemy's
greenlet. Per call the IVR reads the customer and their open cases, and the screen-pop
reads the customer, cases and interactions again, so the hops cost more CPU than the
rest of a call.

`SqliteReader` is one read-only `sqlite3` connection, used synchronously on the loop.
It is only used on a database in WAL mode, where a reader never waits for a writer
(it reads the last committed snapshot while the journey writer or an import writes),
so the loop is not blocked by locks: with `busy_timeout=0` the rare moments a WAL
reader is refused (recovery after a crash, a checkpoint truncating the log) raise at
once, and the caller goes the async way, which waits in aiosqlite's thread instead.

The trade-off: a read that misses the page cache and the OS cache waits for the disk
on the loop thread. On a local SSD that is ~0.1 ms, less than the hop it saves; on a
slow or network disk a cold index would stall every call in the process for a seek,
until the pages are cached (the phone index of 1M customers is ~40 MB; the mmap and
page cache below hold it). A database that is `:memory:`, not in WAL mode, or cannot
be opened read-only gets no reader: the store keeps its async path.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_adapter.sql.sqlite_file import SqliteReader

__all__ = ["LoopReads", "SqliteReader", "reader_path"]

log = logging.getLogger("callpop.crm")


def reader_path(url: URL) -> str | None:
    """The file of a SQLite URL a reader can open, or None (`:memory:`, not SQLite)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


class LoopReads:
    """An engine's reads on the loop thread, for a store: the `SqliteReader` of the
    engine's file, opened at the first read and closed when the engine is disposed.

    `rows` answers None whenever the reader cannot (no reader for this database, or
    it was refused: busy, damaged file); the store then reads through the engine,
    which waits or reports what is wrong."""

    __slots__ = ("__weakref__", "_file", "_may_open", "_reader")

    def __init__(self, engine: AsyncEngine, *, enabled: bool = True) -> None:
        self._reader: SqliteReader | None = None
        self._file = reader_path(engine.url) if enabled else None
        self._may_open = self._file is not None
        if self._file is not None:
            event.listen(engine.sync_engine, "engine_disposed", self._on_disposed)

    @property
    def open(self) -> bool:
        """Whether reads answer without leaving the loop."""
        return self._reader is not None

    def rows(self, sql: str, params: Sequence[Any]) -> list[Any] | None:
        reader = self._reader
        if reader is None:
            if not self._may_open:
                return None
            assert self._file is not None
            self._may_open = False  # one try per engine life: a failure is not retried per call
            reader = self._reader = SqliteReader.open(self._file)
            if reader is None:
                return None
        try:
            return reader.rows(sql, params)
        except sqlite3.Error:
            return None

    def close(self) -> None:
        reader, self._reader = self._reader, None
        self._may_open = self._file is not None  # an engine can be used after dispose
        if reader is not None:
            reader.close()

    def _on_disposed(self, _engine: object) -> None:
        self.close()
