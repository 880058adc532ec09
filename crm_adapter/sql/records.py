"""Rows <-> port types for the SQL store, and the outbox's copy of an interaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Row

from crm_adapter.port import CrmRejected, Customer, CustomerDraft, Interaction
from crm_adapter.sql.tables import LIMITS

__all__ = [
    "check_interaction",
    "check_length",
    "customer_from_row",
    "draft_values",
    "interaction_from_row",
    "interaction_payload",
    "interaction_values",
    "iso",
    "utc",
]


def check_length(field: str, value: str | None) -> None:
    """Refuse text longer than its column, the same way on SQLite and PostgreSQL."""
    limit = LIMITS[field]
    if value is not None and len(value) > limit:
        raise CrmRejected(f"{field} is longer than {limit} characters")


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def interaction_payload(interaction: Interaction) -> dict[str, Any]:
    """The outbox's copy of an interaction: JSON-ready, times in ISO 8601 UTC."""
    return {
        "call_id": interaction.call_id,
        "customer_id": interaction.customer_id,
        "agent": interaction.agent,
        "journey": interaction.journey,
        "disposition": interaction.disposition,
        "notes": interaction.notes,
        "started": iso(interaction.started),
        "ended": iso(interaction.ended),
    }


def utc(value: Any) -> datetime:
    """A timestamp from the driver: SQLite's naive UTC text, or asyncpg's datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def customer_from_row(row: Row[Any], phones: list[str]) -> Customer:
    return Customer(
        id=str(row.id),
        name=row.name,
        phones=tuple(phones),
        external_id=row.external_id,
        account=row.account,
        tier=row.tier,
        language=row.language,
        email=row.email,
        notes=row.notes or "",
    )


def draft_values(draft: CustomerDraft) -> dict[str, Any]:
    values = {
        "name": draft.name.strip(),
        "external_id": draft.external_id or None,
        "account": (draft.account or "").strip() or None,
        "tier": draft.tier or None,
        "language": draft.language or None,
        "email": draft.email or None,
        "notes": draft.notes,
    }
    for field, value in values.items():
        check_length(field, value)
    return values


def check_interaction(interaction: Interaction) -> None:
    for field, value in (
        ("call_id", interaction.call_id),
        ("agent", interaction.agent),
        ("journey", interaction.journey),
        ("disposition", interaction.disposition),
        ("notes", interaction.notes),
        ("external_id", interaction.customer_id),
    ):
        check_length(field, value)


def interaction_values(interaction: Interaction) -> Mapping[str, Any]:
    return {
        "call_id": interaction.call_id,
        "customer_id": interaction.customer_id,
        "agent": interaction.agent,
        "journey": interaction.journey,
        "disposition": interaction.disposition,
        "notes": interaction.notes,
        "started_at": interaction.started,
        "ended_at": interaction.ended,
    }


def interaction_from_row(row: Row[Any]) -> Interaction:
    return Interaction(
        call_id=row.call_id,
        started=row.started_at,
        customer_id=row.customer_id,
        agent=row.agent,
        journey=row.journey or "",
        disposition=row.disposition,
        notes=row.notes or "",
        ended=row.ended_at,
    )
