"""Prometheus metrics, on a registry made here and passed in (never the global default).

One `Metrics` object is built by the composition root and handed to whoever counts:
the runner's services, the pop hub, the CRM lookups, the outbox. Names are prefixed
`callpop_` (design.md, web routes) and follow Prometheus naming: `_total` counters,
`_seconds` histograms in base units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

# Pop latency is judged against a 50 ms p99 target: buckets are dense below 100 ms.
_POP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
# CRM lookups run within a 300 ms budget by default.
_LOOKUP_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.calls_in_ivr = Gauge(
            "callpop_calls_in_ivr", "Calls currently in the IVR", ["driver"], registry=r
        )
        self.calls = Counter(
            "callpop_calls",
            "Calls that left the IVR, by outcome",
            ["driver", "outcome"],
            registry=r,
        )
        self.ivr_errors = Counter(
            "callpop_ivr_errors", "IVR sessions ended by an internal error", ["driver"], registry=r
        )
        self.pops_delivered = Counter(
            "callpop_pops_delivered", "Pop events sent to agent panels", ["type"], registry=r
        )
        self.pop_latency = Histogram(
            "callpop_pop_latency_seconds",
            "From the call event reaching callpop to the pop sent on the agent's websocket",
            buckets=_POP_BUCKETS,
            registry=r,
        )
        self.crm_lookup = Histogram(
            "callpop_crm_lookup_seconds",
            "CRM lookups made for the IVR, by result",
            ["result"],
            buckets=_LOOKUP_BUCKETS,
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "callpop_outbox_backlog", "Interactions waiting for delivery to the CRM", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "callpop_outbox_oldest_age_seconds",
            "Age of the oldest interaction waiting for delivery",
            registry=r,
        )
        self.bus_dropped = Counter(
            "callpop_bus_dropped",
            "Call events dropped from the local buffer while Redis was unreachable",
            registry=r,
        )
        self.bus_buffered = Gauge(
            "callpop_bus_buffered",
            "Call events waiting to be appended to the Redis stream",
            registry=r,
        )
        self.outbox_entries = Gauge(
            "callpop_outbox_entries",
            "Write-backs to the CRM by state: pending (waiting or being retried), failed "
            "(refused by the CRM, kept until requeued), delivered",
            ["state"],
            registry=r,
        )

    def exposition(self) -> bytes:
        """The text format `/metrics` serves."""
        return generate_latest(self.registry)
