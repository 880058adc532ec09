"""One callpop instance's callback placing against the AMI simulator: its AMI listener
(a real socket) and the placer observing it, until the block ends (a restart)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from callpop.ami.client import AMIClient
from callpop.ami.listener import AMIListener, Publish
from callpop.callbacks.placer import CallbackPlacer
from callpop.callbacks.store import CallbackStore
from callpop.config import CallbackSettings
from callpop.pbx_sim.ami import AMIServer

__all__ = ["placing"]


@contextlib.asynccontextmanager
async def placing(
    sim: AMIServer,
    store: CallbackStore,
    publish: Publish,
    *,
    settings: CallbackSettings,
    name: str = "a",
    running: bool = True,
) -> AsyncIterator[CallbackPlacer]:
    """`running=False`: the test turns the placer's loop itself (`step()`)."""
    listeners: list[AMIListener] = []

    def client() -> AMIClient | None:
        return listeners[0].client if listeners else None

    placer = CallbackPlacer(
        store, client=client, publish=publish, settings=settings, instance=name, interval_s=0.02
    )
    listener = AMIListener(
        "127.0.0.1", sim.port, "callpop", "pw", publish,
        observers=(placer.feed,), backoff_initial=0.01,
    )  # fmt: skip
    listeners.append(listener)
    async with listener:
        async with asyncio.timeout(5):
            await listener.wait_resyncs(1)
        if not running:
            yield placer
            return
        loop = asyncio.create_task(placer.run())
        try:
            yield placer
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
