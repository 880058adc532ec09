"""A caller meets queue state through `serve`'s services (FastAGI simulator, the shared
table): current state routes them by it; state no connected AMI lease holder has vouched
for within `queues.state_max_age_s` is unknown, so they take the flow's unknown-state
path, the one they take when there is no queue state at all (docs/contracts.md, "Queue
state across instances")."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from agi_scripts.routes.ivr import ivr_route
from agi_scripts.server import FastAgiServer
from callpop.ami.queue_state import QueueState
from callpop.metrics import Metrics
from callpop.pbx_sim.fastagi import call_fastagi
from callpop.pbx_sim.script import CallerScript
from callpop.queue_store import QueueStateReader, QueueStateStore
from callpop.services import IvrServices
from crm_adapter.memory import InMemoryCrm
from ivr import variables as v
from ivr.flow import Flow
from screenpop.bus import InProcessBus

FLOW = Flow.model_validate(
    {
        "id": "main",
        "entry": "check",
        "settings": {"timeout": "5s", "operator": "operator"},
        "nodes": {
            "check": {
                "type": "branch",
                "cases": [{"when": "queue.billing.full", "goto": "operator"}],
                "default": "overflow",
            },
            "overflow": {
                "type": "overflow",
                "queue": "billing",
                "max_waiting": 50,
                "to": "operator",
                "next": "estimate",
            },
            "estimate": {
                "type": "wait",
                "queue": "billing",
                "next": "billing_queue",
                "unknown": "no_estimate",
            },
            "no_estimate": {"type": "transfer", "queue": "billing", "priority": 1},
            "billing_queue": {"type": "transfer", "queue": "billing"},
            "operator": {"type": "transfer", "queue": "operator"},
        },
    }
)

# 60 callers, the queue full, a 50 min estimate: what the lease holder last wrote
FULL = QueueState("billing", 60, 900, 3, 0, 0, 3000, open=True, max_callers=60, full=True)


async def call(engine: AsyncEngine) -> tuple[dict[str, str], list[str], list[str]]:
    """One caller through FastAGI with `serve`'s services: (variables, nodes, heard)."""
    bus = InProcessBus()
    services = IvrServices(
        crm=InMemoryCrm(),
        bus=bus,
        journeys=None,
        metrics=Metrics(),
        lookup_budget_ms=300,
        queues=QueueStateReader(QueueStateStore(engine), budget_s=0.3, max_age_s=30),
    )
    server = FastAgiServer([ivr_route({"main": FLOW}, services)], host="127.0.0.1", port=0)
    script = CallerScript.parse("w", uniqueid="1795389902.7", linkedid="1795389902.6")
    async with server:
        record = await asyncio.wait_for(
            call_fastagi("127.0.0.1", server.port, script, path="ivr?flow=main"), 60
        )
        await asyncio.wait_for(server.wait_idle(), 60)
    (ended,) = [e for e in await bus.replay(0) if e.type == "ivr.ended"]
    journey: dict[str, Any] = ended.data["journey"]
    variables = {k: val for k, val in record.variables.items() if k.startswith("CALLPOP_")}
    return variables, [step["node"] for step in journey["steps"]], record.played


def written_ago(engine: AsyncEngine, age: timedelta) -> QueueStateStore:
    return QueueStateStore(engine, clock=lambda: datetime.now(UTC) - age)


async def test_a_current_full_queue_sends_the_caller_to_overflow(engine: AsyncEngine) -> None:
    await written_ago(engine, timedelta(seconds=10)).write([FULL])
    variables, nodes, _ = await call(engine)
    assert nodes == ["check", "operator"]
    assert variables[v.QUEUE] == "operator"


async def test_a_current_estimate_is_announced(engine: AsyncEngine) -> None:
    busy = dataclasses.replace(FULL, callers=10, ewt_s=900, full=False)
    await written_ago(engine, timedelta(seconds=10)).write([busy])
    _, nodes, heard = await call(engine)
    assert nodes == ["check", "overflow", "estimate", "billing_queue"]
    assert heard[:3] == ["queue-holdtime", "say-number:15", "queue-minutes"]


async def test_a_full_queue_state_past_the_max_age_is_unknown_not_full(
    engine: AsyncEngine,
) -> None:
    # AMI lost two minutes ago while billing was full: nobody has vouched for it since
    await written_ago(engine, timedelta(minutes=2)).write([FULL])
    variables, nodes, heard = await call(engine)
    assert nodes == ["check", "overflow", "estimate", "no_estimate"]
    assert variables[v.QUEUE] == "billing"
    assert "queue-holdtime" not in heard  # no stale estimate announced


async def test_a_stale_queue_state_takes_the_path_of_no_queue_state_at_all(
    engine: AsyncEngine,
) -> None:
    unknown = await call(engine)  # nothing written: the flow's unknown-state path
    await written_ago(engine, timedelta(seconds=31)).write([FULL])
    assert await call(engine) == unknown
