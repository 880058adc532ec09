"""The Stasis app against the ARI simulator on a real socket, for the driver's tests.

`running(handler)` starts the simulator on 127.0.0.1 (port 0), an `AriClient` and a
`StasisApp`, and checks on the way out that no task died unhandled. Simulated time
runs `SCALE` times real time for both the scripted callers and the app's timers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from callpop.pbx_sim.ari import AriSimulator
from callpop.pbx_sim.ari_model import SimCall
from callpop.pbx_sim.script import CallerScript
from ivr.ari.app import CallHandler, StasisApp, StasisCall
from ivr.ari.channel import AriChannel
from ivr.ari.client import AriClient, ClientSettings
from ivr.ari.websocket import Backoff
from ivr.ports import ChannelGone

SCALE = 0.05
USER, PASSWORD = "callpop", "s3cret:with/odd&chars"


@dataclass
class Running:
    sim: AriSimulator
    client: AriClient
    app: StasisApp
    url: str
    task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the app (when `running(start_app=False)`) and wait for its first resync."""
        if self.task is None:
            self.task = asyncio.create_task(self.app.run())
        await self.sim.wait_for_app()
        await asyncio.wait_for(self.app.resynced.wait(), 10)


@asynccontextmanager
async def running(
    handler: CallHandler,
    *,
    start_app: bool = True,
    scale: float = SCALE,
    client_settings: ClientSettings | None = None,
    **app_options: Any,
) -> AsyncIterator[Running]:
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    sim = AriSimulator(username=USER, password=PASSWORD, time_scale=scale)
    try:
        async with (
            sim.serve() as url,
            AriClient(url, USER, PASSWORD, settings=client_settings) as client,
        ):
            options: dict[str, Any] = {
                "backoff": Backoff(0.01, 0.05, rng=random.Random(3)),
                "timer_scale": scale,
                "orphan_grace_s": 0.05,
            }
            options.update(app_options)
            env = Running(sim, client, StasisApp(client, "callpop", handler, **options), url)
            try:
                if start_app:
                    await env.start()
                yield env
            finally:
                await env.app.stop(grace_s=5.0)
                if env.task is not None:
                    await env.task
    finally:
        loop.set_exception_handler(previous)
    assert not unhandled, unhandled


@dataclass
class Recorder:
    """A handler that runs `steps` and remembers how each call ended."""

    calls: list[StasisCall] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    gone: dict[str, str] = field(default_factory=dict)
    done: dict[str, asyncio.Event] = field(default_factory=dict)

    def finished(self, channel_id: str) -> asyncio.Event:
        return self.done.setdefault(channel_id, asyncio.Event())

    async def run(self, channel: AriChannel, call: StasisCall) -> Any:
        raise NotImplementedError

    async def __call__(self, channel: AriChannel, call: StasisCall) -> None:
        self.calls.append(call)
        try:
            self.results[channel.id] = await self.run(channel, call)
        except ChannelGone as gone:
            self.gone[channel.id] = gone.cause
            raise
        finally:
            self.finished(channel.id).set()


async def ended(call: SimCall, timeout_s: float = 10.0) -> str:
    """How the call left Stasis; bounded so that a broken driver fails, not hangs."""
    return await asyncio.wait_for(asyncio.shield(call.ended), timeout_s)


def script(turns: str = "", uniqueid: str = "1795389902.7", **fields: Any) -> CallerScript:
    return CallerScript.parse(turns, uniqueid=uniqueid, **fields)
