"""`callpop crm import`: validated CSV rows into the customers table, idempotently.

Who a row is: its `external_id` if it has one, else its `account`, else its name
with its first phone number. A row that is someone already stored updates them
(only the columns the file has: a file without `email` leaves emails alone); an
identical row changes nothing; anything else creates a customer. So importing a
file twice leaves the database as importing it once, and the second report says
everything is unchanged.

Rows go in batches, one short write transaction each, with a handful of set-based
statements per batch (never a query per row; new ids are allocated up front, see
`crm_adapter.sql.bulk`): a million rows take minutes, not
hours. A batch that fails stops the import; the batches before it stay, and running
the import again carries on idempotently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_adapter.importer.rows import CsvRow, Rejection, read_rows
from crm_adapter.phone import PhoneNormaliser
from crm_adapter.sql.bulk import allocate_ids, write_rows
from crm_adapter.sql.engine import writer
from crm_adapter.sql.errors import mapped_errors
from crm_adapter.sql.tables import customer_phones, customers

__all__ = ["ImportReport", "import_customers"]

_FIELDS = ("name", "account", "tier", "language", "email", "external_id")
_OPTIONAL = ("account", "tier", "language", "email", "external_id")


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0  # rows overridden by a later row for the same customer
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.unchanged + self.superseded


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def import_customers(
    engine: AsyncEngine,
    path: Path,
    phone: PhoneNormaliser,
    *,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 2000,
    clock: Callable[[], datetime] = _utcnow,
) -> ImportReport:
    """Import `path`; raises `ImportFileError` (nothing imported) for a file that cannot
    be read or has a bad header, and `CrmUnavailable`/`CrmRejected` if the database
    fails mid-way."""
    report = ImportReport()
    batch: list[CsvRow] = []
    write = writer(engine)
    for item in read_rows(path, phone, progress):
        if isinstance(item, Rejection):
            report.rejected.append(item)
            continue
        batch.append(item)
        if len(batch) >= batch_size:
            await _apply(write, batch, report, clock())
            batch = []
    if batch:
        await _apply(write, batch, report, clock())
    return report


def _identity(row: CsvRow) -> tuple[str, ...]:
    if row.external_id:
        return ("external_id", row.external_id)
    if row.account:
        return ("account", row.account)
    return ("name+phone", row.name, row.phones[0])


async def _apply(
    engine: AsyncEngine, rows: Sequence[CsvRow], report: ImportReport, now: datetime
) -> None:
    latest: dict[tuple[str, ...], CsvRow] = {}
    for row in rows:
        key = _identity(row)
        if key in latest:
            report.superseded += 1
        latest[key] = row
    chosen = list(latest.values())
    with mapped_errors(f"import lines {rows[0].line}-{rows[-1].line}"):
        async with engine.begin() as conn:
            await _write(conn, chosen, report, now)


async def _write(
    conn: AsyncConnection, rows: list[CsvRow], report: ImportReport, now: datetime
) -> None:
    by_external = await _by_column(
        conn, "external_id", {r.external_id for r in rows if r.external_id}
    )
    by_account = await _by_column(conn, "account", {r.account for r in rows if r.account})
    by_name_phone = await _by_name_phone(
        conn, {r.phones[0] for r in rows if not r.external_id and not r.account}
    )

    creates: list[CsvRow] = []
    matches: list[tuple[CsvRow, Row[Any]]] = []
    accounts_in_batch: dict[str, int] = {}
    for row in rows:
        if row.external_id:
            match = by_external.get(row.external_id)
        elif row.account:
            match = by_account.get(row.account)
        else:
            match = by_name_phone.get((row.name, row.phones[0]))
        if row.account:
            holder = by_account.get(row.account)
            if holder is not None and (match is None or holder.id != match.id):
                report.rejected.append(
                    Rejection(
                        row.line,
                        f"account {row.account!r} belongs to another customer (id {holder.id})",
                    )
                )
                continue
            if row.account in accounts_in_batch:
                report.rejected.append(
                    Rejection(
                        row.line,
                        f"account {row.account!r} is also on line {accounts_in_batch[row.account]}",
                    )
                )
                continue
            accounts_in_batch[row.account] = row.line
        if match is None:
            creates.append(row)
        else:
            matches.append((row, match))

    stored_phones = await _phones(conn, [m.id for _, m in matches])
    updates: list[dict[str, Any]] = []
    rephone: dict[int, tuple[str, ...]] = {}
    for row, match in matches:
        values = {f: getattr(match, f) for f in _FIELDS}
        values["name"] = row.name
        for column in _OPTIONAL:
            if column in row.present:
                values[column] = getattr(row, column)
        changed_fields = any(values[f] != getattr(match, f) for f in _FIELDS)
        changed_phones = stored_phones.get(match.id, ()) != row.phones
        if not changed_fields and not changed_phones:
            report.unchanged += 1
            continue
        report.updated += 1
        if changed_fields:
            updates.append({"_id": match.id, **values, "updated_at": now})
        if changed_phones:
            rephone[match.id] = row.phones

    if creates:
        new_ids = await allocate_ids(conn, "customers", len(creates))
        await write_rows(
            conn,
            customers,
            ("id", *_FIELDS, "notes", "created_at", "updated_at"),
            [
                (new_id, *(getattr(r, f) for f in _FIELDS), "", now, now)
                for new_id, r in zip(new_ids, creates, strict=True)
            ],
        )
        for new_id, row in zip(new_ids, creates, strict=True):
            rephone[new_id] = row.phones
        report.created += len(creates)
    if updates:
        await conn.execute(
            update(customers)
            .where(customers.c.id == bindparam("_id"))
            .values({f: bindparam(f) for f in (*_FIELDS, "updated_at")}),
            updates,
        )
    if rephone:
        await conn.execute(
            delete(customer_phones).where(customer_phones.c.customer_id.in_(rephone))
        )
        await write_rows(
            conn,
            customer_phones,
            ("customer_id", "e164", "position"),
            [(cid, e164, i) for cid, phones in rephone.items() for i, e164 in enumerate(phones)],
        )


async def _by_column(conn: AsyncConnection, column: str, values: set[str]) -> dict[str, Row[Any]]:
    if not values:
        return {}
    col = customers.c[column]
    rows = await conn.execute(select(customers).where(col.in_(values)))
    return {getattr(r, column): r for r in rows}


async def _by_name_phone(
    conn: AsyncConnection, phones: set[str]
) -> dict[tuple[str, str], Row[Any]]:
    if not phones:
        return {}
    rows = await conn.execute(
        select(customers, customer_phones.c.e164)
        .join(customer_phones, customer_phones.c.customer_id == customers.c.id)
        .where(customer_phones.c.e164.in_(phones))
        .order_by(customers.c.id)
    )
    found: dict[tuple[str, str], Row[Any]] = {}
    for row in rows:
        found.setdefault((row.name, row.e164), row)
    return found


async def _phones(conn: AsyncConnection, ids: list[int]) -> dict[int, tuple[str, ...]]:
    if not ids:
        return {}
    rows = await conn.execute(
        select(customer_phones.c.customer_id, customer_phones.c.e164)
        .where(customer_phones.c.customer_id.in_(ids))
        .order_by(customer_phones.c.customer_id, customer_phones.c.position)
    )
    found: dict[int, list[str]] = {}
    for cid, e164 in rows:
        found.setdefault(cid, []).append(e164)
    return {cid: tuple(p) for cid, p in found.items()}
