"""`SqlStore.verify_pin` for the classic AGI script, through sqlite3: the same rows, the
same lockout (crm_adapter/pins.py), the attempt taken before the comparison in one
UPDATE as the store takes it. The database lock is waited for at most `budget_ms`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from crm_adapter.pins import lock_after, pin_matches
from crm_adapter.port import CrmUnavailable, NotFound, PinCheck
from crm_adapter.sql.queries import customer_id_of
from crm_adapter.sql.sqlite_file import connect

__all__ = ["SqlitePins"]

_TAKE = (
    "UPDATE customer_pins SET failures = failures + 1 WHERE customer_id = ?"
    " AND (locked_until IS NULL OR locked_until <= ?) RETURNING failures, pin_hash"
)
_LOCK = "UPDATE customer_pins SET locked_until = ? WHERE customer_id = ?"
_CLEAR = (
    "UPDATE customer_pins SET failures = 0, locked_until = NULL"
    " WHERE customer_id = ? AND pin_hash = ?"
)
_HAS_PIN = "SELECT 1 FROM customer_pins WHERE customer_id = ?"
_HAS_CUSTOMER = "SELECT 1 FROM customers WHERE id = ?"


class SqlitePins:
    def __init__(
        self,
        database: str,
        budget_ms: int,
        *,
        clock: Callable[[], datetime],
        stored_time: Callable[[datetime], str | None],
    ) -> None:
        self._database = database
        self._budget_ms = budget_ms
        self._clock = clock
        self._stored_time = stored_time

    async def verify_pin(self, customer_id: str, pin: str) -> PinCheck:
        cid = customer_id_of(customer_id)
        if cid is None:
            raise NotFound(f"no customer {customer_id!r}")
        try:
            taken = self._take(cid, customer_id)
        except sqlite3.Error as exc:
            raise CrmUnavailable(f"verify pin: database unavailable: {exc}") from exc
        if isinstance(taken, PinCheck):
            return taken
        pin_hash = taken
        # Here, not on a thread: a process per call has nothing else to run meanwhile.
        if not pin_matches(pin_hash, pin):
            return PinCheck.WRONG
        try:
            self._write(_CLEAR, [cid, pin_hash])
        except sqlite3.Error as exc:
            raise CrmUnavailable(f"verify pin: database unavailable: {exc}") from exc
        return PinCheck.VERIFIED

    def _connect(self) -> sqlite3.Connection:
        return connect(self._database, busy_timeout_ms=self._budget_ms)

    def _take(self, cid: int, customer_id: str) -> str | PinCheck:
        """The stored hash once an attempt is counted, or why none could be."""
        now = self._clock()
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(_TAKE, [cid, self._stored_time(now)]).fetchone()
                if row is None:
                    conn.execute("COMMIT")
                    if conn.execute(_HAS_PIN, [cid]).fetchone() is not None:
                        return PinCheck.LOCKED
                    if conn.execute(_HAS_CUSTOMER, [cid]).fetchone() is None:
                        raise NotFound(f"no customer {customer_id!r}")
                    return PinCheck.NO_PIN
                failures, pin_hash = row
                lock = lock_after(int(failures))
                if lock is not None:
                    conn.execute(_LOCK, [self._stored_time(now + lock), cid])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        return str(pin_hash)

    def _write(self, sql: str, params: list[object]) -> None:
        conn = self._connect()
        try:
            conn.execute(sql, params)
        finally:
            conn.close()
