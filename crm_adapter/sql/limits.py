"""The longest text callpop's tables accept per column, without SQLAlchemy: the classic
AGI script clips a journey's row by them without importing the table definitions."""

from __future__ import annotations

__all__ = ["LIMITS"]

# Longest accepted text per column; the store checks them itself so SQLite (which
# ignores VARCHAR lengths) and PostgreSQL (which enforces them) behave the same.
LIMITS = {
    "name": 200,
    "external_id": 200,
    "account": 64,
    "tier": 32,
    "language": 35,  # BCP 47 tags are at most 35 characters in practice
    "email": 254,  # RFC 5321 path limit
    "notes": 10_000,
    "subject": 300,
    "call_id": 128,
    "agent": 200,
    "journey": 10_000,
    "disposition": 64,
}
