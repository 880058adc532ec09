"""Hundreds of calls in Stasis at once through one app, the real engine and runner:
every event reaches its own call, every call gets its own outcome and journey."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ivr import variables
from ivr.ari.app import StasisCall
from ivr.ari.channel import AriChannel
from ivr.ari.client import ClientSettings
from ivr.ari.handler import IvrCallHandler
from ivr.flow import Flow

from ..test_drivers_agree import Services
from .harness import ended, running, script

CALLS = 300
CHOICES = "1234"

# Generous timeouts: this test is about every event reaching the right call while
# hundreds are up, on a machine that may be busy; latency is measured in bench/.
FLOW = Flow.model_validate(
    {
        "id": "main",
        "entry": "menu",
        "settings": {"timeout": "60s", "interdigit_timeout": "60s"},
        "nodes": {
            "menu": {
                "type": "menu",
                "prompts": ["acme-main-menu"],
                "options": {key: f"account{key}" for key in CHOICES},
            },
            **{
                f"account{key}": {
                    "type": "input",
                    "prompts": ["acme-enter-account"],
                    "variable": "account",
                    "min_digits": 6,
                    "max_digits": 6,
                    "next": f"queue{key}",
                }
                for key in CHOICES
            },
            **{f"queue{key}": {"type": "transfer", "queue": f"queue-{key}"} for key in CHOICES},
        },
    }
)


class Gated:
    """The IVR, once every call is up: all of them are in Stasis together."""

    def __init__(self, ivr: IvrCallHandler) -> None:
        self.ivr = ivr
        self.gate = asyncio.Event()
        self.all_in = asyncio.Event()
        self.waiting = 0

    async def __call__(self, channel: AriChannel, call: StasisCall) -> Any:
        self.waiting += 1
        if self.waiting == CALLS:
            self.all_in.set()
        await self.gate.wait()
        await self.ivr(channel, call)


@pytest.mark.slow
async def test_hundreds_of_concurrent_calls_each_get_their_own_outcome_and_journey() -> None:
    services = Services()
    handler = Gated(IvrCallHandler({"main": FLOW}, services))
    patient = ClientSettings(total_timeout_s=60.0)
    async with running(handler, scale=1.0, client_settings=patient) as env:
        calls = [
            env.sim.call(
                script(f"{CHOICES[i % 4]} {i:06d}", uniqueid=f"1795400000.{i}"), args=("flow=main",)
            )
            for i in range(CALLS)
        ]
        await asyncio.wait_for(handler.all_in.wait(), 60)
        assert env.app.live_calls == CALLS
        handler.gate.set()
        endings = await asyncio.gather(*(ended(c, 120) for c in calls))
        await env.app.wait_idle()
    assert endings == ["continued"] * CALLS
    journeys = {j.call_id: j for j in services.journeys}
    for i, call in enumerate(calls):
        choice = CHOICES[i % 4]
        assert call.continued_to == ("callpop-route", "queue", 1)
        assert call.variables[variables.QUEUE] == f"queue-{choice}"
        assert call.variables[variables.CALL_ID] == call.channel_id
        journey = journeys[call.channel_id]
        assert journey.path == ["menu", f"account{choice}", f"queue{choice}"]
        assert journey.steps[1].keys == [f"{i:06d}"]
    assert env.app.stats.calls_failed == 0
    assert env.app.live_calls == 0
