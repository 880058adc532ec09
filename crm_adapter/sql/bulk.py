"""Bulk writing for imports and demo data: ids allocated up front, rows sent in one go.

`INSERT ... RETURNING` cannot be batched on SQLite when the ids must come back in
row order (SQLite does not promise RETURNING's order), so SQLAlchemy falls back to
one statement per row: 50,000 round trips for 50,000 customers. Allocating the ids
first lets every table be written with one `executemany` (SQLite) or one `COPY`
(PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["allocate_ids", "write_rows"]


async def allocate_ids(conn: AsyncConnection, table: str, count: int) -> list[int]:
    """`count` fresh ids for `table`'s `id`, inside the caller's write transaction."""
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        ids = await conn.scalars(
            text(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return list(ids.all())
    # SQLite: the transaction began IMMEDIATE (crm_adapter.sql.engine.writer), so no
    # other writer can take these ids before we commit.
    top = await conn.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}"))
    return list(range(top + 1, top + 1 + count))


async def write_rows(
    conn: AsyncConnection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` (tuples in `columns` order): COPY on PostgreSQL, executemany on
    SQLite. COPY bypasses SQLAlchemy's types, so datetimes must be timezone-aware."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))
        return
    await conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
