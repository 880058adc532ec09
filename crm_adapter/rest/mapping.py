"""The CRM's JSON records -> callpop's `Customer` and `Case`. Pure: no I/O.

The answer is untrusted: a record list that is not a list, a name that is an
object, an id that is missing, a date that is not a date all make the answer
unreadable (`CrmBadResponse`, which the IVR treats as "CRM unavailable") rather than
half-read. Numbers are accepted where text is expected (ids are often numbers);
text longer than callpop's columns is cut, so a CRM cannot flood the agent's panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from crm_adapter.phone import PhoneNormaliser
from crm_adapter.port import Case, CaseStatus, CrmBadResponse, Customer
from crm_adapter.rest.template import MISSING, Template, lookup_path
from crm_adapter.settings import RestSettings
from crm_adapter.sql.tables import LIMITS

__all__ = ["RecordMapper", "records"]

_SCALAR = (str, int, float)


def records(data: Any, path: str | None, limit: int) -> list[Mapping[str, Any]]:
    """The records of an answer: the list at `path`, or the body itself (a list, or
    one record); at most `limit` of them."""
    found = data if path is None else lookup_path(data, path)
    if found is MISSING:
        raise CrmBadResponse(f"the answer has no {path!r}")
    if found is None:
        return []
    if isinstance(found, Mapping) and path is None:
        found = [found]
    if not isinstance(found, list):
        raise CrmBadResponse(
            f"expected a list of records at {path or 'the top'}, got {type(found).__name__}"
        )
    chosen = found[:limit]
    for item in chosen:
        if not isinstance(item, Mapping):
            raise CrmBadResponse(f"expected records (objects), got {type(item).__name__}")
    return chosen


class _Field:
    """One callpop field: a dotted path, or a template over the record."""

    def __init__(self, name: str, spec: str) -> None:
        self.name = name
        self.template = Template.parse(spec) if "{" in spec else None
        self.path = spec

    def raw(self, record: Mapping[str, Any]) -> Any:
        if self.template is None:
            return lookup_path(record, self.path)
        for name in self.template.names:
            value = lookup_path(record, name)
            if (
                value is not MISSING
                and value is not None
                and (isinstance(value, bool) or not isinstance(value, _SCALAR))
            ):
                raise CrmBadResponse(f"{self.name}: {name} is {type(value).__name__}, not text")
        return " ".join(self.template.render(record).split()) or None

    def text(self, record: Mapping[str, Any], limit: int) -> str | None:
        value = self.raw(record)
        if value is MISSING or value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, _SCALAR):
            raise CrmBadResponse(f"{self.name}: expected text, got {type(value).__name__}")
        text = str(value).strip()
        return text[:limit] or None


class RecordMapper:
    def __init__(self, settings: RestSettings, phone: PhoneNormaliser) -> None:
        self.phone = phone
        self._customer = {k: _Field(k, v) for k, v in settings.customer_fields().items()}
        self._case = {k: _Field(k, v) for k, v in settings.case_field_map().items()}
        self._case_status: dict[str, CaseStatus] = {
            k.casefold(): v for k, v in settings.case_status.items()
        }

    def customer(self, record: Mapping[str, Any]) -> Customer:
        def text(name: str, limit_key: str | None = None) -> str | None:
            spec = self._customer.get(name)
            return None if spec is None else spec.text(record, LIMITS[limit_key or name])

        customer_id = text("id", "external_id")
        if customer_id is None:
            raise CrmBadResponse("a customer record without an id")
        return Customer(
            id=customer_id,
            name=text("name") or "",
            phones=self._phones(record),
            account=text("account"),
            external_id=text("external_id"),
            tier=text("tier"),
            language=text("language"),
            email=text("email"),
            notes=text("notes") or "",
        )

    def _phones(self, record: Mapping[str, Any]) -> tuple[str, ...]:
        raw: list[Any] = []
        single = self._customer.get("phone")
        if single is not None:
            raw.append(single.raw(record))
        many = self._customer.get("phones")
        if many is not None:
            value = many.raw(record)
            raw.extend(value if isinstance(value, list) else [value])
        found: list[str] = []
        for item in raw:
            if item is MISSING or item is None:
                continue
            if isinstance(item, bool) or not isinstance(item, _SCALAR):
                raise CrmBadResponse(f"phone: expected text, got {type(item).__name__}")
            e164 = self.phone.normalise(str(item))
            if e164 is not None and e164 not in found:
                found.append(e164)
        return tuple(found)

    def case(self, record: Mapping[str, Any], customer_id: str) -> Case:
        case_id = self._case["id"].text(record, LIMITS["external_id"])
        if case_id is None:
            raise CrmBadResponse("a case record without an id")
        status_text = (self._case["status"].text(record, 64) or "").casefold()
        opened = _datetime(self._case["opened"].raw(record))
        return Case(
            id=case_id,
            customer_id=customer_id,
            subject=self._case["subject"].text(record, LIMITS["subject"]) or "",
            status=self._case_status.get(status_text, "open"),
            opened=opened,
        )


def _datetime(value: Any) -> datetime:
    """ISO 8601 text, or a Unix time in seconds or milliseconds (HubSpot, Salesforce)."""
    if isinstance(value, bool) or value is MISSING or value is None:
        raise CrmBadResponse("a case without its opening time")
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 100_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise CrmBadResponse(f"opened: {value!r} is not a time") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise CrmBadResponse(f"opened: {value[:40]!r} is not an ISO 8601 time") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise CrmBadResponse(f"opened: expected a time, got {type(value).__name__}")
