"""One engine, several drivers: the same caller on the same flow leaves the same outcome
variables and the same journey whichever way Asterisk reaches callpop.

Each path is a caller script (`callpop.pbx_sim.script`, one token per turn) played by
the simulator of each driver against the real driver, runner and engine; the CRM, the
bus and the store are an in-memory `CallServices`. Every driver must give the outcome
the path specifies, and all drivers must give the same variables and journey (times
aside: the AGI simulator runs on a virtual clock, ARI on app-side timers).

Drivers: FastAGI (`agi_scripts` against `callpop.pbx_sim.fastagi`), ARI (`ivr.ari`
against `callpop.pbx_sim.ari`) and the classic AGI script (`callpop.agi_script`, a
process per call, against the same AGI simulator).
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from agi_scripts.routes.ivr import ivr_route
from agi_scripts.server import FastAgiServer
from callpop.ami.queue_state import QueueState
from callpop.flood import FloodStore
from callpop.journeys import JourneyStore
from callpop.pbx_sim.ari import AriSimulator
from callpop.pbx_sim.fastagi import call_agi_script, call_fastagi
from callpop.pbx_sim.script import CallerScript
from callpop.queue_store import QueueStateStore
from crm_adapter.sql.engine import create_engine
from crm_adapter.sql.migrate import upgrade
from ivr import variables as v
from ivr.actions import CallbackRequest
from ivr.ari.app import StasisApp
from ivr.ari.client import AriClient
from ivr.ari.handler import IvrCallHandler
from ivr.ari.websocket import Backoff
from ivr.events import (
    CallbackRequested,
    CallbackStatus,
    FloodLooked,
    LookupFinished,
    LookupStatus,
    PinChecked,
    PinStatus,
    QueuesLooked,
    QueueValue,
)
from ivr.flow import Flow
from ivr.journey import Journey
from ivr.ports import CallEvent

MAIN_DATA: dict[str, Any] = {
    "entry": "welcome",
    "settings": {
        "timeout": "5s",
        "interdigit_timeout": "3s",
        "max_invalid": 2,
        "max_timeouts": 2,
        "operator": "operator",
        "timeout_prompts": ["acme-no-entry"],
    },
    "nodes": {
        "welcome": {"type": "play", "prompts": ["hello", "acme-welcome"], "next": "main"},
        "main": {
            "type": "menu",
            "prompts": ["acme-main-menu"],
            "options": {
                "1": {"goto": "billing", "topic": "billing"},
                "2": {"goto": "tech", "topic": "tech"},
                "3": "account",
            },
        },
        "billing": {
            "type": "menu",
            "prompts": ["acme-billing-menu"],
            "options": {"1": {"goto": "billing_queue", "topic": "payments"}, "2": "goodbye"},
        },
        "billing_queue": {
            "type": "transfer",
            "queue": "billing",
            "priority": 2,
            "prompts": ["pls-hold-while-try"],
        },
        "tech": {"type": "transfer", "queue": "tech"},
        "account": {
            "type": "input",
            "prompts": ["acme-enter-account"],
            "variable": "account",
            "min_digits": 4,
            "max_digits": 8,
            "next": "accounts_queue",
        },
        "accounts_queue": {"type": "transfer", "queue": "accounts"},
        "goodbye": {"type": "hangup", "prompts": ["goodbye"]},
        "operator": {"type": "transfer", "queue": "operator"},
    },
}
MAIN = Flow.model_validate({**MAIN_DATA, "id": "main"})
FLOWS = {"main": MAIN}


@dataclass(frozen=True)
class Site:
    """A flow `main` and the world it reads: queues' state, the flood switch."""

    data: dict[str, Any]
    queues: Mapping[str, Mapping[str, QueueValue]] = field(default_factory=dict)
    flood: str | None = None
    # seconds since an AMI lease holder connected to Asterisk last vouched for `queues`
    # (the classic script reads it from the database; the in-memory services never age)
    state_age_s: float = 0.0

    @property
    def flows(self) -> dict[str, Flow]:
        return {"main": Flow.model_validate({**self.data, "id": "main"})}

    def services(self) -> Services:
        return Services(queues=self.queues, flood=self.flood)


# A flood, a busy billing queue: the known cause first, the estimate, a callback offer.
BUSY_DATA: dict[str, Any] = {
    "entry": "flood",
    "settings": {"timeout": "5s", "operator": "operator"},
    "nodes": {
        "flood": {
            "type": "flood",
            "messages": {"known-outage": ["acme-outage"]},
            "interruptible": False,  # each key of the script answers a question
            "next": "overflow",
            "normal": "overflow",
        },
        "overflow": {
            "type": "overflow",
            "queue": "billing",
            "max_waiting": 50,
            "to": "operator",
            "next": "estimate",
        },
        "estimate": {"type": "wait", "queue": "billing", "next": "offer"},
        "offer": {
            "type": "callback",
            "queue": "billing",
            "offer_above": "10m",
            "declined": "billing_queue",
        },
        "billing_queue": {"type": "transfer", "queue": "billing"},
        "operator": {"type": "transfer", "queue": "operator"},
    },
}
BILLING_BUSY = {
    "callers": 12,
    "longest_wait_s": 0,  # as of the write: no time passes in the state the drivers read
    "logged_in": 3,
    "available": 0,
    "paused": 0,
    "ewt_s": 900,
    "open": True,
    "full": False,
}
PLAIN = Site(MAIN_DATA)
BUSY = Site(BUSY_DATA, {"billing": BILLING_BUSY}, "known-outage")

Ending = Literal["queue", "hangup", "caller-hangup"]

# keys -> (outcome, queue or None, nodes visited)
PATHS: dict[str, tuple[Ending, str | None, list[str]]] = {
    "1 1": ("queue", "billing", ["welcome", "main", "billing", "billing_queue"]),
    "2": ("queue", "tech", ["welcome", "main", "tech"]),
    "3 12345678#": ("queue", "accounts", ["welcome", "main", "account", "accounts_queue"]),
    "3 1234#": ("queue", "accounts", ["welcome", "main", "account", "accounts_queue"]),
    "w 2": ("queue", "tech", ["welcome", "main", "tech"]),
    "9 9": ("queue", "operator", ["welcome", "main", "operator"]),
    "0": ("queue", "operator", ["welcome", "main", "operator"]),
    "1 *  2": ("queue", "tech", ["welcome", "main", "billing", "main", "tech"]),
    "1 2": ("hangup", None, ["welcome", "main", "billing", "goodbye"]),
    "1 h": ("caller-hangup", None, ["welcome", "main", "billing"]),
    "w w": ("queue", "operator", ["welcome", "main", "operator"]),
    "3 12# 12345#": ("queue", "accounts", ["welcome", "main", "account", "accounts_queue"]),
    "1 9 1": ("queue", "billing", ["welcome", "main", "billing", "billing_queue"]),
    "h": ("caller-hangup", None, ["welcome"]),
}


@dataclass
class Services:
    """CallServices in memory: no customer is known; events and journeys are kept; the
    queues' state and the flood switch are the site's (`BUSY_SITE` for the busy flow);
    callback requests are kept and numbered by queue."""

    events: list[CallEvent] = field(default_factory=list)
    journeys: list[Journey] = field(default_factory=list)
    queues: Mapping[str, Mapping[str, QueueValue]] = field(default_factory=dict)
    flood: str | None = None
    callbacks: list[CallbackRequest] = field(default_factory=list)

    async def lookup(
        self, by: Literal["phone", "account"], value: str, *, at_ms: int
    ) -> LookupFinished:
        return LookupFinished(LookupStatus.NOT_FOUND, at_ms)

    async def queue_state(self, queues: tuple[str, ...], *, at_ms: int) -> QueuesLooked:
        return QueuesLooked(at_ms, {q: self.queues[q] for q in queues if q in self.queues})

    async def flood_state(self, *, at_ms: int) -> FloodLooked:
        return FloodLooked(at_ms, self.flood is not None, self.flood or "")

    async def request_callback(
        self, request: CallbackRequest, *, call_id: str, at_ms: int
    ) -> CallbackRequested:
        self.callbacks.append(request)
        position = sum(1 for r in self.callbacks if r.queue == request.queue)
        return CallbackRequested(CallbackStatus.STORED, at_ms, position, request.number)

    async def verify_pin(self, customer_id: str, pin: str, *, at_ms: int) -> PinChecked:
        return PinChecked(PinStatus.NO_PIN, at_ms)  # no customer is known: none has a PIN

    def publish(self, event: CallEvent) -> None:
        self.events.append(event)

    async def save_journey(self, journey: Journey, data: Mapping[str, Any]) -> None:
        # By call id, as the database upserts: a journey stored before its hand-back
        # is stored again if the hand-back failed.
        self.journeys[:] = [j for j in self.journeys if j.call_id != journey.call_id]
        self.journeys.append(journey)


@dataclass(frozen=True)
class Result:
    variables: dict[str, str]
    route: str  # where the channel went: "callpop-route,queue,1", "hangup", "caller-hangup"
    journey: dict[str, Any]
    events: list[str]
    played: list[str]  # what the caller heard: sound names, `number:N`, `digits:D`


def heard_agi(played: list[str]) -> list[str]:
    return [p.replace("say-number:", "number:").replace("say-digits:", "digits:") for p in played]


def heard_ari(played: list[str]) -> list[str]:
    return [p.removeprefix("sound:") for p in played]


def timeless(journey: Journey | Mapping[str, Any]) -> dict[str, Any]:
    """The journey without its times, which differ between a virtual and a real clock,
    and without the dialplan version (only the classic script loads a versioned folder)."""
    data = journey.to_dict() if isinstance(journey, Journey) else json.loads(json.dumps(journey))
    data.pop("started_at")
    data.pop("version", None)
    for step in data["steps"]:
        for key in ("entered_ms", "left_ms", "ms"):
            step.pop(key)
    if data["outcome"] is not None:
        data["outcome"].pop("at_ms")
    return data


SCALE = 0.2  # simulated time runs five times faster than real time, app timers too


async def through_ari(script: CallerScript, site: Site = PLAIN) -> Result:
    services = site.services()
    sim = AriSimulator(username="callpop", password="secret", time_scale=SCALE)
    async with sim.serve() as url, AriClient(url, "callpop", "secret") as client:
        app = StasisApp(
            client,
            "callpop",
            IvrCallHandler(site.flows, services),
            backoff=Backoff(0.01, 0.05),
            timer_scale=SCALE,
        )
        task = asyncio.create_task(app.run())
        try:
            await sim.wait_for_app()
            call = sim.call(script, args=("flow=main",))
            ending = await asyncio.wait_for(asyncio.shield(call.ended), 60)
            await asyncio.wait_for(app.wait_idle(), 60)
        finally:
            await app.stop(grace_s=5)
            await task
    if call.continued_to is not None:
        route = ",".join(map(str, call.continued_to))
    else:
        route = "hangup" if ending == "hangup-application" else "caller-hangup"
    (journey,) = services.journeys
    return Result(
        variables={k: val for k, val in call.variables.items() if k.startswith("CALLPOP_")},
        route=route,
        journey=timeless(journey),
        events=[e.type for e in services.events],
        played=heard_ari(call.played),
    )


async def through_fastagi(script: CallerScript, site: Site = PLAIN) -> Result:
    services = site.services()
    server = FastAgiServer([ivr_route(site.flows, services)], host="127.0.0.1", port=0)
    async with server:
        record = await asyncio.wait_for(
            call_fastagi("127.0.0.1", server.port, script, path="ivr?flow=main"), 60
        )
        await asyncio.wait_for(server.wait_idle(), 60)
    if record.hung_up_by == "application":
        route = "hangup"
    elif record.hung_up_by is not None:
        route = "caller-hangup"
    else:  # the server closed: the dialplan goes on with Goto(callpop-route,${OUTCOME},1)
        route = f"callpop-route,{record.route()},1"
    (journey,) = services.journeys
    return Result(
        variables={k: val for k, val in record.variables.items() if k.startswith("CALLPOP_")},
        route=route,
        journey=timeless(journey),
        events=[e.type for e in services.events],
        played=heard_agi(record.played),
    )


async def seed(engine: AsyncEngine, site: Site) -> None:
    """The site's world in the classic script's database, as `serve` would have left it:
    the AMI lease holder's queue state, the admin's flood switch."""
    states = [
        QueueState(queue=name, max_callers=0, **{k: v for k, v in fields.items()})  # type: ignore[arg-type]
        for name, fields in site.queues.items()
    ]
    if states:
        written = datetime.now(UTC) - timedelta(seconds=site.state_age_s)
        await QueueStateStore(engine, clock=lambda: written).write(states)
    if site.flood is not None:
        await FloodStore(engine).set(True, site.flood)


async def through_classic_script(
    script: CallerScript, site: Site = PLAIN, *, cached: bool = False
) -> Result:
    """The classic AGI script, a process as Asterisk runs it, on a site of its own: the
    flow in a dialplan folder, an empty SQLite CRM (no customer is known, as above), the
    journey read back from the database. Its events go to no one (no bus across
    processes), so it has no event list to compare. `cached`: another call (a caller who
    hangs up at once) runs first, so this one takes the flows and the config from the
    script's cache instead of loading them."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "dialplan" / "flows").mkdir(parents=True)
        (root / "dialplan" / "flows" / "main.yaml").write_text(json.dumps(site.data))
        config = root / "callpop.yaml"
        config.write_text("database: sqlite:///./callpop.db\ndialplan: ./dialplan\n")
        engine = create_engine(f"sqlite:///{root / 'callpop.db'}")
        try:
            await upgrade(engine)
            await seed(engine, site)
            argv = [sys.executable, "-m", "callpop.agi_script", str(config), "main"]
            env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(root / "cache")}
            first = CallerScript.parse("h", uniqueid="1795389800.2", linkedid="1795389800.1")
            async with asyncio.timeout(60):
                for call in (first, script) if cached else (script,):
                    record, status, stderr = await call_agi_script(
                        argv, call, args=argv[1:], cwd="/", env=env
                    )
                    assert (status, stderr) == (0, b"")
            assert len(list((root / "cache").glob("callpop/flows/*.flows"))) == 1
            assert script.linkedid is not None  # caller() gives every call one
            journey = await JourneyStore(engine).get(script.linkedid)
        finally:
            await engine.dispose()
    if record.hung_up_by == "application":
        route = "hangup"
    elif record.hung_up_by is not None:
        route = "caller-hangup"
    else:
        route = f"callpop-route,{record.route()},1"
    assert journey is not None
    # The script loads the dialplan folder, so its journey names the version it ran (the
    # drivers above are given their flows in memory, with no version).
    assert journey["version"]["hash"]
    return Result(
        variables={k: val for k, val in record.variables.items() if k.startswith("CALLPOP_")},
        route=route,
        journey=timeless(journey),
        events=[],
        played=heard_agi(record.played),
    )


DRIVERS: dict[str, Callable[[CallerScript, Site], Awaitable[Result]]] = {
    "fastagi": through_fastagi,
    "ari": through_ari,
    "classic": through_classic_script,
    "classic-cached": functools.partial(through_classic_script, cached=True),
}


def caller(keys: str) -> CallerScript:
    return CallerScript.parse(keys, uniqueid="1795389902.7", linkedid="1795389902.6")


@pytest.mark.parametrize("keys", list(PATHS))
async def test_every_driver_gives_the_path_its_outcome(keys: str) -> None:
    outcome, queue, path = PATHS[keys]
    for name, drive in DRIVERS.items():
        result = await drive(caller(keys), PLAIN)
        assert [step["node"] for step in result.journey["steps"]] == path, name
        assert result.journey["call_id"] == "1795389902.6", name
        if outcome == "queue":
            assert result.route == "callpop-route,queue,1", name
            assert result.variables[v.OUTCOME] == "queue", name
            assert result.variables[v.QUEUE] == queue, name
            assert result.variables[v.CALL_ID] == "1795389902.6", name
        elif outcome == "hangup":
            assert result.route == "hangup", name
            assert result.variables[v.OUTCOME] == "hangup", name
        else:
            assert result.route == "caller-hangup", name
            assert result.journey["outcome"]["reason"] == "caller-hangup", name
        if not name.startswith("classic"):  # its events stay in its own process
            assert result.events[0] == "ivr.started" and result.events[-1] == "ivr.ended", name


@pytest.mark.parametrize("keys", list(PATHS))
async def test_all_drivers_agree_on_variables_and_journey(keys: str) -> None:
    results = {name: await drive(caller(keys), PLAIN) for name, drive in DRIVERS.items()}
    reference_name, reference = next(iter(results.items()))
    for name, result in results.items():
        assert result.variables == reference.variables, (name, reference_name)
        assert result.journey == reference.journey, (name, reference_name)
        if not name.startswith("classic"):
            assert result.events == reference.events, (name, reference_name)


# keys -> (route, queue or None, the last node); every path hears the flood message and
# the estimate (15 minutes for 900 s, said with SAY NUMBER / ARI `number:`).
BUSY_PATHS: dict[str, tuple[str, str | None, str]] = {
    "2": ("callpop-route,queue,1", "billing", "billing_queue"),
    "w": ("callpop-route,queue,1", "billing", "billing_queue"),
    "1 #": ("hangup", None, "offer"),
    "1 h": ("caller-hangup", None, "offer"),
}


@pytest.mark.parametrize("keys", list(BUSY_PATHS))
async def test_every_driver_plays_the_flood_message_says_the_wait_and_offers_the_callback(
    keys: str,
) -> None:
    route, queue, last = BUSY_PATHS[keys]
    results = {name: await drive(caller(keys), BUSY) for name, drive in DRIVERS.items()}
    for name, result in results.items():
        assert result.played[:4] == [
            "acme-outage",
            "queue-holdtime",
            "number:15",
            "queue-minutes",
        ], name
        assert "callpop/callback-offer" in result.played, name
        assert result.route == route, name
        assert result.journey["steps"][-1]["node"] == last, name
        if queue is not None:
            assert result.variables[v.QUEUE] == queue, name
    reference = results["fastagi"]
    for name, result in results.items():
        assert result.journey == reference.journey, name
        assert result.variables == reference.variables, name


async def test_every_driver_reads_the_caller_id_back_and_says_the_callback_position() -> None:
    for name, drive in DRIVERS.items():
        result = await drive(caller("1 #@9000"), BUSY)  # after the prompts
        tail = result.played[result.played.index("callpop/callback-on") :]
        assert tail[1].startswith("digits:"), name
        assert tail[-3:] == ["callpop/callback-booked", "number:1", "goodbye"], name
        assert result.journey["outcome"]["reason"] == "callback-requested", name


# What the AMI lease holder last wrote before it lost Asterisk: billing full, 50 min.
BILLING_FULL = {**BILLING_BUSY, "callers": 60, "full": True, "ewt_s": 3000}


async def test_queue_state_past_its_max_age_is_no_queue_state_to_the_classic_script() -> None:
    full = Site(BUSY_DATA, {"billing": BILLING_FULL}, "known-outage")
    full_two_minutes_ago = Site(BUSY_DATA, {"billing": BILLING_FULL}, "known-outage", 120.0)
    unknown = await through_fastagi(caller("w"), Site(BUSY_DATA, {}, "known-outage"))
    assert unknown.variables[v.QUEUE] == "billing"  # overflow, estimate, offer: unknown paths
    for name in ("classic", "classic-cached"):
        stale = await DRIVERS[name](caller("w"), full_two_minutes_ago)
        assert stale.journey == unknown.journey, name
        assert stale.variables == unknown.variables, name
        assert stale.played == unknown.played, name
    current = await through_classic_script(caller("w"), full)
    assert current.variables[v.QUEUE] == "operator"  # the same row, current: overflow
