"""Helpers shared by the AGI tests: in-memory CallServices, a fixed wall clock, a
FastAGI server on port 0, and a one-connection server to drive the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from agi_scripts.channel import Timeouts
from agi_scripts.request import Route
from agi_scripts.routes.connected import connected_route
from agi_scripts.routes.ivr import ivr_route
from agi_scripts.server import FastAgiServer
from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerScript
from ivr.actions import CallbackRequest
from ivr.compiled import CompiledFlows
from ivr.entries import luhn_valid
from ivr.events import (
    CallbackRequested,
    CallbackStatus,
    FloodLooked,
    LookupFinished,
    LookupStatus,
    PinChecked,
    PinStatus,
    QueuesLooked,
)
from ivr.flow import Flow
from ivr.journey import Journey
from ivr.ports import CallEvent, CallServices

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplan"

# A Tuesday at 10:00 in New York: the sample flow's contact centre is open.
OPEN_HOURS = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
AT_NIGHT = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

VIP_NUMBER = "+15550000001"
KNOWN_ACCOUNT = "4539578767"  # 10 digits, Luhn-valid
KNOWN_PIN = "2468"  # Paul Payer's (the account's customer) PIN


assert luhn_valid(KNOWN_ACCOUNT)


@dataclass
class MemoryServices:
    """CallServices in memory: one VIP customer by phone, one account; events and
    journeys kept for assertions. `started` is set by the first `ivr.started`."""

    events: list[CallEvent] = field(default_factory=list)
    journeys: list[Journey] = field(default_factory=list)
    lookups: list[tuple[str, str]] = field(default_factory=list)
    pin_checks: list[tuple[str, PinStatus]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def lookup(
        self, by: Literal["phone", "account"], value: str, *, at_ms: int
    ) -> LookupFinished:
        self.lookups.append((by, value))
        if by == "phone" and value == VIP_NUMBER:
            customer = {"id": "C-1", "name": "Vera Important", "tier": "vip"}
            return LookupFinished(LookupStatus.FOUND, at_ms, customer, 1)
        if by == "account" and value == KNOWN_ACCOUNT:
            customer = {"id": "C-2", "name": "Paul Payer", "tier": "standard"}
            return LookupFinished(LookupStatus.FOUND, at_ms, customer, 1)
        return LookupFinished(LookupStatus.NOT_FOUND, at_ms)

    async def queue_state(self, queues: tuple[str, ...], *, at_ms: int) -> QueuesLooked:
        return QueuesLooked(at_ms)  # no queue state known: `queue.*` conditions are absent

    async def flood_state(self, *, at_ms: int) -> FloodLooked:
        return FloodLooked(at_ms)  # never on here

    async def request_callback(
        self, request: CallbackRequest, *, call_id: str, at_ms: int
    ) -> CallbackRequested:
        return CallbackRequested(CallbackStatus.UNAVAILABLE, at_ms)  # no store here

    async def verify_pin(self, customer_id: str, pin: str, *, at_ms: int) -> PinChecked:
        # As a CRM answers: only Paul Payer has a PIN. Who was checked and the answer
        # are kept, never the digits.
        if customer_id != "C-2":
            status = PinStatus.NO_PIN
        else:
            status = PinStatus.VERIFIED if pin == KNOWN_PIN else PinStatus.WRONG
        self.pin_checks.append((customer_id, status))
        return PinChecked(status, at_ms)

    def publish(self, event: CallEvent) -> None:
        self.events.append(event)
        if event.type == "ivr.started":
            self.started.set()

    async def save_journey(self, journey: Journey, data: Mapping[str, Any]) -> None:
        # By call id, as the database upserts: a journey stored before its hand-back
        # is stored again if the hand-back failed.
        self.journeys[:] = [j for j in self.journeys if j.call_id != journey.call_id]
        self.journeys.append(journey)

    def journey(self) -> Journey:
        (journey,) = self.journeys
        return journey


class FixedClock:
    """The runner's clock: real monotonic time, a fixed wall-clock start."""

    def __init__(self, start: datetime) -> None:
        self.start = start

    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000

    def now(self) -> datetime:
        return self.start


FAST = Timeouts(environment=5.0, command=5.0, prompt=30.0, slack=5.0, close=1.0)


@asynccontextmanager
async def fastagi(
    flows: Mapping[str, Flow] | CompiledFlows,
    services: CallServices,
    *,
    clock_start: datetime = OPEN_HOURS,
    timeouts: Timeouts = FAST,
    extra: Sequence[Route] = (),
) -> AsyncIterator[FastAgiServer]:
    """A FastAGI server on 127.0.0.1, port 0, with the /ivr and /connected routes.
    On exit it waits for every call to end (each test's calls must end by themselves)."""
    clock = FixedClock(clock_start)
    routes = [
        ivr_route(flows, services, clock=clock),
        connected_route(services, clock=clock),
        *extra,
    ]
    server = FastAgiServer(routes, host="127.0.0.1", port=0, timeouts=timeouts)
    await server.start()
    try:
        yield server
        await asyncio.wait_for(server.wait_idle(), 30)
    finally:
        await server.shutdown(grace_s=0)


async def against(handler: Any, script: CallerScript, **kwargs: Any) -> CallRecord:
    """Run the simulator against a one-connection server `handler`; wait for both."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            done.set_result(None)

    listener = await asyncio.start_server(server, "127.0.0.1", 0)
    async with listener:
        port = listener.sockets[0].getsockname()[1]
        record = await asyncio.wait_for(call_fastagi("127.0.0.1", port, script, **kwargs), 30)
        await asyncio.wait_for(done, 30)
    return record
