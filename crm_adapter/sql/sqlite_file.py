"""SQLite files through the standard library's `sqlite3`, without SQLAlchemy: the pragmas
every callpop connection sets, read-write connections (`connect`), the synchronous
read-only reader (its reasons are in `crm_adapter/sql/reader.py`). The classic AGI
script uses these alone; `serve`'s connection on a thread of its own is
`crm_adapter/sql/sqlite_thread.py`."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

__all__ = ["SQLITE_PRAGMAS", "SqliteReader", "connect", "uri_path"]

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


def uri_path(path: str) -> str:
    """`path` as a `file:` URI path: characters URIs reserve are percent-encoded."""
    encoded = path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    return f"file:{encoded}"
