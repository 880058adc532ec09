"""The built-in CRM's reads as fixed SQL text, per dialect, without SQLAlchemy: the
statements `SqlStore` sends in one driver round trip (and the SQLite reader answers),
and the customers they give. The classic AGI script runs them through sqlite3 alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crm_adapter.port import Customer

__all__ = [
    "BY_ACCOUNT",
    "BY_ID",
    "FIND_BY_PHONE",
    "MAX_MATCHES",
    "OPEN_CASES",
    "RECENT_INTERACTIONS",
    "customer_id_of",
    "customers_from_rows",
]

# A number shared by more customers than this is a switchboard: the IVR gets the
# first ones, best first, and the count it reports is capped.
MAX_MATCHES = 20
_OPEN_CASES_SHOWN = 50


def _sql(text: str) -> Mapping[str, str]:
    """The statement for SQLite (`?`) and asyncpg (`$1`): one parameter, written `:v`."""
    return {"sqlite": text.replace(":v", "?"), "postgresql": text.replace(":v", "$1")}


# The phone index gives the matching ids (primary holders first), and the same
# statement brings every phone of those customers back.
FIND_BY_PHONE = _sql(f"""
SELECT c.id, c.external_id, c.name, c.account, c.tier, c.language, c.email, c.notes, p.e164
FROM (SELECT customer_id AS cid, position AS rank FROM customer_phones
      WHERE e164 = :v ORDER BY position, customer_id LIMIT {MAX_MATCHES}) AS m
JOIN customers AS c ON c.id = m.cid
LEFT JOIN customer_phones AS p ON p.customer_id = c.id
ORDER BY m.rank, c.id, p.position, p.e164
""")

OPEN_CASES = _sql(f"""
SELECT id, subject, status, opened_at FROM cases
WHERE customer_id = :v AND status <> 'closed'
ORDER BY opened_at DESC, id DESC LIMIT {_OPEN_CASES_SHOWN}
""")

# The statements `_load` and `recent_interactions` build with SQLAlchemy's Core,
# written out for the SQLite reader and for one asyncpg round trip (no BEGIN and
# ROLLBACK around them), with the columns `_customers` reads.
_BY_MATCH = """
SELECT c.id, c.external_id, c.name, c.account, c.tier, c.language, c.email, c.notes, p.e164
FROM (SELECT id AS cid FROM customers WHERE {where} = :v) AS m
JOIN customers AS c ON c.id = m.cid
LEFT JOIN customer_phones AS p ON p.customer_id = c.id
ORDER BY c.id, p.position, p.e164
"""
BY_ACCOUNT = _sql(_BY_MATCH.format(where="account"))
BY_ID = _sql(_BY_MATCH.format(where="id"))
RECENT_INTERACTIONS = {
    dialect: f"""
SELECT call_id, customer_id, agent, journey, disposition, notes, started_at, ended_at
FROM interactions WHERE customer_id = {first}
ORDER BY started_at DESC, id DESC LIMIT {second}
"""
    for dialect, first, second in (("sqlite", "?", "?"), ("postgresql", "$1", "$2"))
}


def customers_from_rows(rows: Iterable[Sequence[Any]]) -> list[Customer]:
    """Customers from rows of (id, external_id, name, account, tier, language, email,
    notes, e164): one row per phone, a customer's rows together, best first."""
    found: dict[int, tuple[Sequence[Any], list[str]]] = {}
    for row in rows:
        entry = found.setdefault(row[0], (row, []))
        if row[8] is not None:
            entry[1].append(row[8])
    return [
        Customer(
            id=str(r[0]),
            external_id=r[1],
            name=r[2],
            account=r[3],
            tier=r[4],
            language=r[5],
            email=r[6],
            notes=r[7] or "",
            phones=tuple(phones),
        )
        for r, phones in found.values()
    ]


def customer_id_of(customer_id: str) -> int | None:
    """The integer id behind a port id, or None for anything that cannot be one."""
    if not customer_id.isascii() or not customer_id.isdigit() or len(customer_id) > 18:
        return None
    return int(customer_id)
