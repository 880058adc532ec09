"""`IvrServices`: what the runner asks of the CRM, the pop bus and the journey sink."""

from __future__ import annotations

from typing import Any

from callpop.metrics import Metrics
from callpop.services import IvrServices
from crm_adapter.memory import InMemoryCrm
from crm_adapter.port import CustomerDraft
from ivr.events import LookupStatus
from ivr.ports import CallEvent
from screenpop.bus import InProcessBus


def services(bus: Any, metrics: Metrics | None = None) -> IvrServices:
    return IvrServices(
        crm=InMemoryCrm(),
        bus=bus,
        journeys=None,
        metrics=metrics or Metrics(),
        lookup_budget_ms=300,
    )


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def event(kind: str, call_id: str = "c1", **data: object) -> CallEvent:
    return CallEvent(kind, call_id, "2024-06-03T12:00:00.000Z", data)


async def test_call_events_go_to_the_bus_synchronously_and_are_counted() -> None:
    bus, metrics = InProcessBus(), Metrics()
    svc = services(bus, metrics)
    started: list[str] = []
    svc.on_call_started.append(started.append)
    svc.publish(event("ivr.started", flow="main"))
    assert bus.last_seq == 1 and started == ["c1"]
    assert sample(metrics, "callpop_calls_in_ivr", driver="fastagi") == 1
    svc.publish(event("ivr.ended", outcome="error"))
    assert [e.as_dict() for e in await bus.replay(0)] == [
        {
            "seq": 1,
            "type": "ivr.started",
            "call_id": "c1",
            "at": "2024-06-03T12:00:00.000Z",
            "data": {"flow": "main"},
        },
        {
            "seq": 2,
            "type": "ivr.ended",
            "call_id": "c1",
            "at": "2024-06-03T12:00:00.000Z",
            "data": {"outcome": "error"},
        },
    ]
    assert sample(metrics, "callpop_calls_in_ivr", driver="fastagi") == 0
    assert sample(metrics, "callpop_calls_total", driver="fastagi", outcome="error") == 1
    assert sample(metrics, "callpop_ivr_errors_total", driver="fastagi") == 1


def test_a_closed_bus_drops_the_event_and_the_call_goes_on() -> None:
    bus = InProcessBus()
    svc = services(bus)
    bus.close()
    svc.publish(event("ivr.node"))  # dropped, no raise


async def test_lookups_are_timed_by_their_result() -> None:
    crm, metrics = InMemoryCrm(), Metrics()
    crm.add_customer(CustomerDraft("Ana", phones=("+15551230000",)))
    svc = IvrServices(
        crm=crm, bus=InProcessBus(), journeys=None, metrics=metrics, lookup_budget_ms=300
    )
    found = await svc.lookup("phone", "5551230000", at_ms=7)
    missing = await svc.lookup("phone", "5559990000", at_ms=8)
    again = await svc.lookup("phone", "5551230000", at_ms=9)
    assert (found.status, missing.status, again.status) == (
        LookupStatus.FOUND,
        LookupStatus.NOT_FOUND,
        LookupStatus.FOUND,
    )
    assert sample(metrics, "callpop_crm_lookup_seconds_count", result="found") == 2
    assert sample(metrics, "callpop_crm_lookup_seconds_count", result="not_found") == 1
