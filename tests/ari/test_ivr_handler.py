"""The whole ARI path: Stasis app, IvrCallHandler, the shared runner and the engine,
through websocket losses, with journeys saved for every call."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from ivr import variables
from ivr.ari.errors import AriUnauthorized
from ivr.ari.handler import IvrCallHandler
from ivr.ari.serving import ari_app_context

from ..test_drivers_agree import FLOWS, Services
from .harness import PASSWORD, USER, ended, running, script


def playing(env: Any, sound: str) -> bool:
    return any(
        p.media[p.index] == f"sound:{sound}" and p.state == "playing"
        for p in env.sim.state.playbacks.values()
    )


async def test_an_unknown_flow_sends_the_caller_to_the_operator_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    services = Services()
    async with running(IvrCallHandler(FLOWS, services)) as env:
        call = env.sim.call(script(), args=("flow=nope",))
        assert await ended(call) == "continued"
    assert call.continued_to == ("callpop-route", "error", 1)
    assert call.variables[variables.OUTCOME] == "error"
    assert call.variables[variables.FLOW] == "nope"
    assert [r.levelname for r in caplog.records if r.levelno >= logging.ERROR] == ["ERROR"]


async def test_a_call_goes_on_across_a_lost_websocket_as_if_nothing_happened() -> None:
    services = Services()
    async with running(IvrCallHandler(FLOWS, services), scale=0.2) as env:
        call = env.sim.call(script("w 2"))
        await env.sim.until(lambda: playing(env, "hello"))
        env.sim.refuse_websockets = True
        await env.sim.drop_websockets()
        await env.sim.until(lambda: env.sim.refused_upgrades >= 1)
        await env.sim.until(lambda: playing(env, "acme-welcome"))  # PlaybackContinuing missed
        env.sim.refuse_websockets = False
        assert await ended(call, 30) == "continued"
    assert call.variables[variables.QUEUE] == "tech"
    (journey,) = services.journeys
    assert journey.path == ["welcome", "main", "tech"]
    assert env.app.stream.connections == 2


async def test_a_caller_who_leaves_while_the_socket_is_away_gets_a_saved_journey() -> None:
    services = Services()
    async with running(IvrCallHandler(FLOWS, services)) as env:
        call = env.sim.call(script("1"))
        await env.sim.until(lambda: playing(env, "acme-billing-menu"))
        env.sim.refuse_websockets = True
        await env.sim.drop_websockets()
        env.sim.state.caller_hangs_up(env.sim.state.channels[call.channel_id])
        env.sim.refuse_websockets = False
        await asyncio.wait_for(env.app.resynced.wait(), 10)
        await asyncio.wait_for(env.app.wait_idle(), 10)
    (journey,) = services.journeys
    assert journey.path == ["welcome", "main", "billing"]
    assert journey.outcome is not None and journey.outcome.reason == "caller-hangup"
    assert [e.type for e in services.events][-1] == "ivr.ended"


async def test_serving_refuses_wrong_credentials_with_a_clear_message() -> None:
    async with running(IvrCallHandler(FLOWS, Services()), start_app=False) as env:

        class Settings:
            url = env.url
            username = USER
            app = "callpop"

            def resolved_password(self) -> str:
                return "not-" + PASSWORD

        with pytest.raises(AriUnauthorized, match=r"check ari\.username"):
            async with ari_app_context(Settings(), IvrCallHandler(FLOWS, Services())):
                pass


async def test_serving_runs_the_app_until_the_context_ends() -> None:
    services = Services()
    async with running(IvrCallHandler(FLOWS, services), start_app=False) as env:

        class Settings:
            url = env.url
            username = USER
            app = "callpop"

            def resolved_password(self) -> str:
                return PASSWORD

        async with ari_app_context(Settings(), IvrCallHandler(FLOWS, services), grace_s=1) as app:
            await env.sim.wait_for_app()
            call = env.sim.call(script("2"))
            assert await ended(call) == "continued"
            await app.wait_idle()
        assert "callpop" not in env.sim.state.connected_apps
    assert [j.path for j in services.journeys] == [["welcome", "main", "tech"]]


@pytest.mark.parametrize("request_number", range(13))
async def test_a_caller_gone_before_any_request_leaves_a_quiet_end_and_a_journey(
    request_number: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Path "2": read the call id, answer, play the welcome, then the 9 variables that have
    # a value (no customer, so no CALLPOP_CUSTOMER_ID or CALLPOP_TIER) and continue.
    # The caller hangs up just before the N-th of them, which gets 404 Channel not found.
    services = Services()
    async with running(IvrCallHandler(FLOWS, services)) as env:
        call = env.sim.call(script("2", hangup_on_command=request_number))
        assert await ended(call) == "hangup-caller"
        await asyncio.wait_for(env.app.wait_idle(), 10)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert env.app.stats.calls_failed == 0
    if request_number >= 2:  # the session had started: its journey says how it ended
        (journey,) = services.journeys
        assert journey.outcome is not None
