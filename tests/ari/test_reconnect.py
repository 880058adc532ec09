"""Losing the events websocket, as Asterisk makes it happen (09-app-websocket-reconnect,
05/07 stop now, 06 stop gracefully): the app reconnects with backoff, resynchronises,
and every call either goes on or ends cleanly."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest

from ivr import variables
from ivr.actions import Collect, Sound
from ivr.ari.client import AriClient, ClientSettings, basic_auth
from ivr.ari.websocket import (
    Backoff,
    Connected,
    ConnectFailed,
    ConnectionLost,
    EventStream,
    StreamItem,
)

from .harness import PASSWORD, USER, ended, running, script
from .swagger import problems
from .test_app import Steps

PATIENT = Collect(prompts=(Sound("menu"),), max_digits=1, timeout_ms=600_000, interdigit_ms=1000)
QUEUE = ((variables.OUTCOME, "queue"), (variables.QUEUE, "support"))


def playing(env: Any, channel_id: str) -> bool:
    return any(p.channel.id == channel_id for p in env.sim.state.playbacks.values())


async def test_a_call_goes_on_when_its_playback_ended_while_the_socket_was_away(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = Steps("say", QUEUE, "continue")
    async with running(handler) as env:
        call = env.sim.call(script())
        await env.sim.until(lambda: playing(env, call.channel_id))
        env.sim.refuse_websockets = True
        assert await env.sim.drop_websockets() == 1
        await env.sim.until(lambda: env.sim.refused_upgrades >= 2)  # backing off, retrying
        await env.sim.until(lambda: not playing(env, call.channel_id))  # PlaybackFinished lost
        missed = env.sim.state.missed_events
        env.sim.refuse_websockets = False
        assert await ended(call) == "continued"
    assert missed >= 1
    assert call.continued_to == ("callpop-route", "queue", 1)
    resync_requests = {(m, path.split("/")[2]) for m, path, _ in env.sim.requests}
    assert {("GET", "channels"), ("GET", "playbacks")} <= resync_requests
    assert [p for m, path, q in env.sim.requests for p in problems(m, path, q)] == []
    assert env.app.stream.connections == 2
    assert env.app.stream.failed_attempts >= 2
    assert env.app.stats.resyncs == 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_keys_pressed_while_away_are_lost_and_the_timers_still_run() -> None:
    menu = Collect(prompts=(Sound("menu"),), max_digits=1, timeout_ms=3000, interdigit_ms=1000)
    handler = Steps(menu, "continue")
    async with running(handler) as env:
        call = env.sim.call(script("5@2000"))
        await env.sim.until(lambda: bool(call.played))
        await env.sim.drop_websockets()
        env.sim.refuse_websockets = True
        await env.sim.until(lambda: call.keys_sent == ["5"])
        env.sim.refuse_websockets = False
        await ended(call)
    (entered,) = handler.results[call.channel_id]
    assert (entered.digits, entered.timed_out) == ("", True)


async def test_a_caller_who_hangs_up_while_the_app_is_away_ends_the_session() -> None:
    handler = Steps(PATIENT, "continue")
    async with running(handler) as env:
        call = env.sim.call(script())
        await env.sim.until(lambda: bool(call.played))
        env.sim.refuse_websockets = True
        await env.sim.drop_websockets()
        env.sim.state.caller_hangs_up(env.sim.state.channels[call.channel_id])
        env.sim.refuse_websockets = False
        await asyncio.wait_for(handler.finished(call.channel_id).wait(), 10)
        await env.app.wait_idle()
    assert handler.gone[call.channel_id] == "vanished"
    assert env.app.stats.vanished == 1
    assert env.app.stats.calls_failed == 0


async def test_a_channel_left_in_stasis_without_a_session_goes_to_the_operator() -> None:
    handler = Steps("continue")
    async with running(handler, start_app=False) as env:
        # A previous callpop took the call, then died: the channel waits in Stasis.
        async with aiohttp.ClientSession(
            headers={"Authorization": basic_auth(USER, PASSWORD)}
        ) as http:
            ws = await http.ws_connect(env.url.replace("http", "ws") + "/events?app=callpop")
            call = env.sim.call(script())
            assert (await ws.receive_json())["type"] == "StasisStart"
            await ws.close()
        assert call.channel_id in env.sim.state.channels
        await env.start()
        assert await ended(call) == "continued"
    assert call.continued_to == ("callpop-route", "operator", 1)
    assert handler.calls == []
    assert env.app.resync.orphans_sent_on == 1


async def test_asterisk_stopping_now_ends_every_session() -> None:
    handler = Steps(PATIENT, "continue")
    async with running(handler) as env:
        calls = [env.sim.call(script(uniqueid=f"1795389902.{i}")) for i in range(3)]
        await env.sim.until(lambda: all(c.played for c in calls))
        await env.sim.stop_now()
        await env.app.wait_idle()
        endings = [await ended(c) for c in calls]
    assert endings == ["hangup-shutdown"] * 3
    # 05-asterisk-stop: ChannelHangupRequest cause 4 (soft), then the socket drops.
    assert set(handler.gone.values()) == {"hangup-cause-4"}


async def test_a_call_whose_request_times_out_still_reaches_the_operator() -> None:
    handler = Steps(PATIENT, "continue")
    quick = ClientSettings(total_timeout_s=0.2, connect_timeout_s=0.2)
    async with running(handler, client_settings=quick) as env:
        env.sim.stall = lambda method, path: method == "POST" and path.endswith("/play")
        call = env.sim.call(script())
        await asyncio.wait_for(handler.finished(call.channel_id).wait(), 10)
        env.sim.release()
        assert await ended(call) == "continued"
    assert handler.gone[call.channel_id] == "ari-unavailable"
    assert call.continued_to == ("callpop-route", "operator", 1)


# --- the stream itself -------------------------------------------------------------------


async def next_item(items: asyncio.Queue[StreamItem]) -> StreamItem:
    return await asyncio.wait_for(items.get(), 10)


async def next_link_item(items: asyncio.Queue[StreamItem]) -> StreamItem:
    """The next item that is about the link, skipping events."""
    while True:
        item = await next_item(items)
        if isinstance(item, Connected | ConnectionLost | ConnectFailed):
            return item


async def test_a_drop_without_close_frame_is_connection_lost_1006_then_a_new_connection() -> None:
    async with running(Steps(), start_app=False) as env:
        items: asyncio.Queue[StreamItem] = asyncio.Queue()
        stream = EventStream(env.client, "callpop", backoff=Backoff(0.01, 0.02))
        task = asyncio.create_task(stream.run(items.put_nowait))
        assert await next_link_item(items) == Connected(1)
        await env.sim.wait_for_app()
        await env.sim.drop_websockets()
        assert await next_link_item(items) == ConnectionLost(1006)
        assert await next_link_item(items) == Connected(2)
        await stream.close()
        await task


async def test_a_graceful_stop_is_connection_lost_1000() -> None:
    async with running(Steps(), start_app=False) as env:
        items: asyncio.Queue[StreamItem] = asyncio.Queue()
        stream = EventStream(env.client, "callpop", backoff=Backoff(0.01, 0.02))
        task = asyncio.create_task(stream.run(items.put_nowait))
        assert await next_link_item(items) == Connected(1)
        await env.sim.wait_for_app()
        await env.sim.stop_gracefully()
        assert await next_link_item(items) == ConnectionLost(1000, "")
        await stream.close()
        await task


async def test_refused_upgrades_are_retried_with_backoff() -> None:
    async with running(Steps(), start_app=False) as env:
        env.sim.refuse_websockets = True
        items: asyncio.Queue[StreamItem] = asyncio.Queue()
        stream = EventStream(env.client, "callpop", backoff=Backoff(0.01, 0.02))
        task = asyncio.create_task(stream.run(items.put_nowait))
        first = await next_link_item(items)
        assert isinstance(first, ConnectFailed) and "503" in first.error
        second = await next_link_item(items)
        assert isinstance(second, ConnectFailed)
        env.sim.refuse_websockets = False
        while not isinstance(item := await next_link_item(items), Connected):
            assert isinstance(item, ConnectFailed)
        await stream.close()
        await task
    assert stream.failed_attempts >= 2


async def test_wrong_credentials_are_reported_as_such() -> None:
    async with running(Steps(), start_app=False) as env:
        async with AriClient(env.url, USER, "wrong") as client:
            items: asyncio.Queue[StreamItem] = asyncio.Queue()
            stream = EventStream(client, "callpop", backoff=Backoff(0.01, 0.02))
            task = asyncio.create_task(stream.run(items.put_nowait))
            failed = await next_link_item(items)
            await stream.close()
            await task
    assert isinstance(failed, ConnectFailed)
    assert "credentials" in failed.error


async def test_closing_the_stream_while_backing_off_ends_it() -> None:
    async with running(Steps(), start_app=False) as env:
        env.sim.refuse_websockets = True
        items: asyncio.Queue[StreamItem] = asyncio.Queue()
        stream = EventStream(env.client, "callpop", backoff=Backoff(60, 60))
        task = asyncio.create_task(stream.run(items.put_nowait))
        assert isinstance(await next_link_item(items), ConnectFailed)
        await stream.close()
        await asyncio.wait_for(task, 5)
