"""A short flood (issue 16 acceptance, the test-sized version): a burst of callers far
above the usual rate through the FastAGI simulator against `serve`'s IvrServices over a
real database, flood mode on, billing busy and sales closed. callpop keeps answering and
every caller gets what the flow says: the known cause, then the estimate and a callback
offer (billing), or the overflow (sales); every accepted callback is stored once.

The queue state is seeded as the AMI lease holder writes it (`queue_states`), not folded
from the AMI simulator here; tests/ami covers that fold."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from agi_scripts.routes.ivr import ivr_route
from agi_scripts.server import FastAgiServer
from callpop.ami.queue_state import QueueState
from callpop.callbacks.store import CallbackStore
from callpop.flood import FloodReader, FloodStore
from callpop.metrics import Metrics
from callpop.pbx_sim.fastagi import call_fastagi
from callpop.pbx_sim.script import CallerScript
from callpop.queue_store import QueueStateReader, QueueStateStore
from callpop.services import IvrServices
from crm_adapter.phone import PhoneNormaliser
from crm_adapter.port import InMemoryCrm
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from crm_adapter.sql.tables import callbacks
from ivr.flow import Flow
from screenpop.bus import InProcessBus


def busy_flow(queue: str) -> Flow:
    nodes: dict[str, Any] = {
        "flood": {
            "type": "flood",
            "messages": {"known-outage": ["acme-outage"]},
            "interruptible": False,
            "next": "overflow",
            "normal": "overflow",
        },
        "overflow": {
            "type": "overflow",
            "queue": queue,
            "max_waiting": 50,
            "to": "sorry",
            "next": "estimate",
        },
        "estimate": {"type": "wait", "queue": queue, "next": "offer"},
        "offer": {"type": "callback", "queue": queue, "offer_above": "10m", "declined": "join"},
        "join": {"type": "transfer", "queue": queue},
        "sorry": {"type": "voicemail", "mailbox": "8000"},
    }
    return Flow.model_validate({"entry": "flood", "nodes": nodes})


def state(queue: str, **fields: Any) -> QueueState:
    base: dict[str, Any] = {
        "callers": 12, "longest_wait_s": 300, "logged_in": 3, "available": 0, "paused": 0,
        "ewt_s": 900, "open": True, "max_callers": 0, "full": False,
    }  # fmt: skip
    return QueueState(queue=queue, **{**base, **fields})


CALLERS = 60  # the acceptance's "ten times the normal rate", kept short for the suite
GAP_S = 0.01  # a new caller every 10 ms


async def test_a_burst_of_callers_each_gets_what_the_flow_says(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'callpop.db'}")
    await upgrade(engine)
    await QueueStateStore(engine).write(
        [state("billing"), state("sales", logged_in=0, open=False, ewt_s=None)]
    )
    await FloodStore(engine).set(True, "known-outage")
    services = IvrServices(
        crm=InMemoryCrm(),
        bus=InProcessBus(),
        journeys=None,  # journeys are not what this test checks (serve batches them)
        metrics=Metrics(),
        lookup_budget_ms=300,
        queues=QueueStateReader(QueueStateStore(engine), budget_s=0.3),
        flood=FloodReader(FloodStore(engine), budget_s=0.3),
        callbacks=CallbackStore(engine),
        phone=PhoneNormaliser("US"),
    )
    flows = {"billing": busy_flow("billing"), "sales": busy_flow("sales")}
    server = FastAgiServer([ivr_route(flows, services)], host="127.0.0.1", port=0)
    # Callers in turn: billing and declines, billing and a callback, sales (closed).
    kinds = [("billing", "2"), ("billing", "1 #@9000"), ("sales", "")]
    try:
        async with server:

            async def one(n: int) -> tuple[str, str, Any]:
                flow, keys = kinds[n % 3]
                await asyncio.sleep(n * GAP_S)
                script = CallerScript.parse(
                    keys, uniqueid=f"1795389902.{2 * n + 1}", linkedid=f"1795389902.{2 * n}"
                )
                record = await call_fastagi(
                    "127.0.0.1", server.port, script, path=f"ivr?flow={flow}"
                )
                return flow, keys, record

            done = await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(CALLERS))), 120)
            await asyncio.wait_for(server.wait_idle(), 60)
        for flow, keys, record in done:
            assert record.played[0] == "acme-outage", (flow, keys)  # the known cause first
            if flow == "sales":
                assert record.variables["CALLPOP_OUTCOME"] == "voicemail"
                assert "say-number:15" not in record.played
                continue
            assert record.played[1:4] == ["queue-holdtime", "say-number:15", "queue-minutes"]
            assert "callpop/callback-offer" in record.played
            if keys == "2":
                assert record.variables["CALLPOP_QUEUE"] == "billing"
            else:
                assert record.hung_up_by == "application"
                assert "callpop/callback-booked" in record.played
        accepted = sum(1 for flow, keys, _ in done if keys.startswith("1"))
        async with engine.connect() as conn:
            stored = (await conn.execute(select(func.count()).select_from(callbacks))).scalar_one()
            distinct = (
                await conn.execute(select(func.count(func.distinct(callbacks.c.call_id))))
            ).scalar_one()
        assert stored == distinct == accepted
    finally:
        await engine.dispose()
