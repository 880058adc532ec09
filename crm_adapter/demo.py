"""Demo data: customers, cases and agents, deterministic for a seed, at any size.

`callpop init --demo --customers 1000000` must work, so rows are made by arithmetic
on the row number rather than by calling Faker a million times: Faker (seeded) only
fills small pools of first and last names, and a SplitMix64 hash of (seed, row)
picks from them. Row `i` is the same whatever the size, so `--customers 1000` after
`--customers 100` adds rows 101-1000, and running the same command twice adds nothing.

Phone numbers are fictional `+1 555` numbers spread over the 555 exchange space by
an affine permutation (unique by construction). Two are fixed for demos and docs:
customer 1, a VIP with the number the docs use, `+1 555 123 4567`, and customer 2,
a standard customer with open cases, `+1 555 010 4321`. Account numbers have ten
digits, the last a Luhn check digit, as the sample flow's account entry expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from faker import Faker
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_adapter.pins import hash_pin
from crm_adapter.sql.bulk import allocate_ids, write_rows
from crm_adapter.sql.engine import writer
from crm_adapter.sql.errors import mapped_errors
from crm_adapter.sql.tables import agents, cases, customer_phones, customer_pins, customers

__all__ = [
    "DEMO_AGENTS",
    "DEMO_PINS",
    "MAX_DEMO_CUSTOMERS",
    "DemoAgent",
    "DemoData",
    "DemoReport",
    "luhn_digit",
    "seed_demo",
]

# The permutation's space: exchanges 200-999 of area code 555, 10,000 lines each.
_SPACE = 800 * 10_000
_MULTIPLIER = 5_102_341  # odd and not a multiple of 5: coprime with _SPACE
# Primary numbers use rows 1..N, second numbers rows SECOND + i: no overlap below it.
_SECOND = 4_000_000
MAX_DEMO_CUSTOMERS = _SECOND - 1
_ANCHOR = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # "now" of the demo world: fixed, so deterministic
_MASK = (1 << 64) - 1

_FIXED = {
    1: {"phone": "+15551234567", "tier": "vip", "language": "en"},
    2: {"phone": "+15550104321", "tier": "standard", "language": "en"},
}
# The PINs of the two fixed customers, for the flows' `pin` nodes (docs/dialplan.md):
# demo data, printed in the docs; every other demo customer has none.
DEMO_PINS = {1: "1234", 2: "2468"}
_TIERS = (("standard", 80), ("business", 12), ("vip", 8))
_LANGUAGES = (("en", 85), ("es", 12), ("fr", 3))
_SUBJECTS = (
    "Internet connection drops in the evening",
    "Router replacement",
    "Billing dispute",
    "Late payment fee",
    "Move service to a new address",
    "Upgrade to fibre",
    "Cancel TV package",
    "Refund for outage",
    "Technician appointment",
    "Roaming charges",
    "Direct debit not collected",
    "Password reset for the customer portal",
)
_CASE_STATUS = (("open", 40), ("pending", 20), ("closed", 40))


@dataclass(frozen=True, slots=True)
class DemoAgent:
    name: str
    interface: str
    role: str
    password: str  # demo only, printed by `callpop demo`


DEMO_AGENTS = (
    DemoAgent("alice", "PJSIP/101", "agent", "alice"),
    DemoAgent("bob", "PJSIP/102", "agent", "bob"),
    DemoAgent("sam", "PJSIP/103", "supervisor", "sam"),
)


@dataclass
class DemoReport:
    customers: int = 0
    cases: int = 0
    agents: int = 0
    already: int = 0  # demo customers there before


def _mix(x: int) -> int:
    """SplitMix64's finaliser: a well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _table(options: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """Weighted choice as a lookup table: `table[roll % len(table)]`."""
    return tuple(value for value, weight in options for _ in range(weight))


_TIER_TABLE, _LANGUAGE_TABLE, _STATUS_TABLE = map(_table, (_TIERS, _LANGUAGES, _CASE_STATUS))
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # digit * 2, digits summed


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to `digits`."""
    total = 0
    for position, ch in enumerate(reversed(digits)):
        total += _DOUBLED[int(ch)] if position % 2 == 0 else int(ch)
    return str((10 - total % 10) % 10)


def _phone(index: int) -> str:
    slot = (index * _MULTIPLIER + 1_234_567) % _SPACE
    exchange, line = 200 + slot // 10_000, slot % 10_000
    return f"+1555{exchange:03d}{line:04d}"


class DemoData:
    """The demo world of one seed: `customer(i)` is row `i` (from 1), the same every time."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.first = [fake.first_name() for _ in range(500)]
        self.last = [fake.last_name() for _ in range(1000)]
        self.first_mail = [n.lower().replace(" ", "") for n in self.first]
        self.last_mail = [n.lower().replace(" ", "") for n in self.last]

    def customer(self, index: int) -> dict[str, Any]:
        h = _mix((self.seed << 32) ^ index)
        f, la = h % len(self.first), (h >> 16) % len(self.last)
        fixed = _FIXED.get(index, {})
        account = str(300_000_000 + index)
        phones = [fixed.get("phone") or _phone(index)]
        if fixed == {} and (h >> 40) % 5 == 0:
            phones.append(_phone(_SECOND + index))  # a mobile beside the landline
        domain = ("com", "org", "net")[(h >> 20) % 3]
        return {
            "external_id": f"demo-{index:07d}",
            "name": f"{self.first[f]} {self.last[la]}",
            "account": account + luhn_digit(account),
            "tier": fixed.get("tier") or _TIER_TABLE[(h >> 8) % len(_TIER_TABLE)],
            "language": fixed.get("language") or _LANGUAGE_TABLE[(h >> 24) % len(_LANGUAGE_TABLE)],
            "email": f"{self.first_mail[f]}.{self.last_mail[la]}{index}@example.{domain}",
            "phones": phones,
            "cases": _cases(h, index),
        }


def _cases(h: int, index: int) -> list[dict[str, Any]]:
    count = 2 if index == 2 else (h >> 44) % 8  # 0-7, but only 0-3 are made: ~1/2 have none
    found = []
    for n in range(count if count <= 3 else 0):
        c = _mix(h ^ (n + 1))
        status = "open" if index == 2 else _STATUS_TABLE[c % len(_STATUS_TABLE)]
        opened = _ANCHOR - timedelta(minutes=int(c >> 20) % (90 * 24 * 60))
        found.append(
            {
                "subject": _SUBJECTS[(c >> 8) % len(_SUBJECTS)],
                "status": status,
                "opened_at": opened,
                "closed_at": opened + timedelta(days=2) if status == "closed" else None,
            }
        )
    return found


async def seed_demo(
    engine: AsyncEngine,
    *,
    customers_wanted: int,
    seed: int = 1,
    batch: int = 10_000,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DemoReport:
    """Add the demo agents and demo customers 1..N not already there."""
    if not 0 <= customers_wanted <= MAX_DEMO_CUSTOMERS:
        raise ValueError(f"--customers is between 0 and {MAX_DEMO_CUSTOMERS:,}")
    report = DemoReport()
    write = writer(engine)
    now = clock()
    with mapped_errors("demo data"):
        async with write.begin() as conn:
            report.agents = await _agents(conn, now)
            last = await conn.scalar(
                select(func.max(customers.c.external_id)).where(
                    customers.c.external_id.like("demo-%")
                )
            )
        report.already = int(last[5:]) if last else 0
        if progress is not None and report.already:
            progress(min(report.already, customers_wanted))
        world = DemoData(seed)
        for start in range(report.already + 1, customers_wanted + 1, batch):
            rows = [
                world.customer(i) for i in range(start, min(start + batch, customers_wanted + 1))
            ]
            async with write.begin() as conn:
                report.cases += await _insert(conn, rows, now)
            report.customers += len(rows)
            if progress is not None:
                progress(len(rows))
    return report


async def _agents(conn: AsyncConnection, now: datetime) -> int:
    present = set((await conn.scalars(select(agents.c.name))).all())
    hasher = PasswordHasher()
    new = [
        {
            "name": a.name,
            "interface": a.interface,
            "role": a.role,
            "password_hash": hasher.hash(a.password),
            "active": True,
            "created_at": now,
        }
        for a in DEMO_AGENTS
        if a.name not in present
    ]
    if new:
        await conn.execute(insert(agents), new)
    return len(new)


async def _insert(conn: AsyncConnection, rows: list[dict[str, Any]], now: datetime) -> int:
    customer_ids = iter(await allocate_ids(conn, "customers", len(rows)))
    customer_rows: list[tuple[Any, ...]] = []
    phone_rows: list[tuple[Any, ...]] = []
    case_rows: list[tuple[Any, ...]] = []
    for row in rows:
        cid = next(customer_ids)
        customer_rows.append(
            (
                cid,
                row["external_id"],
                row["name"],
                row["account"],
                row["tier"],
                row["language"],
                row["email"],
                "",
                now,
                now,
            )
        )
        phone_rows.extend((e164, cid, i) for i, e164 in enumerate(row["phones"]))
        case_rows.extend(
            (cid, c["subject"], c["status"], c["opened_at"], c["closed_at"]) for c in row["cases"]
        )
    case_ids = await allocate_ids(conn, "cases", len(case_rows))
    await write_rows(
        conn,
        customers,
        (
            "id",
            "external_id",
            "name",
            "account",
            "tier",
            "language",
            "email",
            "notes",
            "created_at",
            "updated_at",
        ),
        customer_rows,
    )
    await write_rows(conn, customer_phones, ("e164", "customer_id", "position"), phone_rows)
    demo_index = (int(row["external_id"][len("demo-") :]) for row in rows)
    pins = [
        (cid, hash_pin(DEMO_PINS[index]), 0, now)
        for cid, index in zip((r[0] for r in customer_rows), demo_index, strict=True)
        if index in DEMO_PINS
    ]
    if pins:
        await write_rows(
            conn, customer_pins, ("customer_id", "pin_hash", "failures", "changed_at"), pins
        )
    await write_rows(
        conn,
        cases,
        ("id", "customer_id", "subject", "status", "opened_at", "closed_at"),
        [(case_id, *r) for case_id, r in zip(case_ids, case_rows, strict=True)],
    )
    return len(case_rows)
