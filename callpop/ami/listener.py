"""The AMI listener: AMI client -> triggers -> publish (the pop bus).

Composition: `callpop serve` builds one with the `ami:` settings and `bus.publish`; tests
and the benchmark build one against the simulator. Events are handled in the order
Asterisk sent them, each published before the next is read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from callpop.ami.client import AMIClient
from callpop.ami.codec import Message
from callpop.ami.triggers import Triggers
from callpop.config import AmiSettings
from ivr.ports import CallEvent

__all__ = ["AMIListener", "Publish"]

log = logging.getLogger("callpop.ami")

Publish = Callable[[CallEvent], None]
"""`PopBus.publish`: synchronous, never waits (docs/contracts.md)."""

# Queue events are class `agent`, Dial and Hangup class `call`: asking for those two
# spares us the dialplan class (dozens of VarSet/Newexten per call).
EVENT_CLASSES = "call,agent"


class AMIListener:
    """Owns one `AMIClient` task; `start()` then `stop()` (or `async with`)."""

    def __init__(self, host: str, port: int, username: str, secret: str, publish: Publish, *,
                 triggers: Triggers | None = None, clock: Callable[[], float] = time.time,
                 events: str = EVENT_CLASSES, **client_options: Any) -> None:
        self.triggers = triggers or Triggers()
        self._publish = publish
        self._clock = clock
        self.client = AMIClient(host, port, username, secret, on_event=self._on_event,
                                events=events, **client_options)
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    @classmethod
    def from_settings(cls, settings: AmiSettings, publish: Publish,
                      **options: Any) -> AMIListener:
        """`options` go to `AMIListener` (triggers, clock, events) or `AMIClient`."""
        return cls(settings.host, settings.port, settings.username,
                   settings.resolved_secret(), publish, **options)

    def track(self, call_id: str) -> None:
        """See `Triggers.track`: feed it the call ids of `ivr.started` events."""
        self.triggers.track(call_id)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.client.run(), name="ami-listener")
            self._task.add_done_callback(_report_crash)

    async def stop(self, deadline_s: float = 5.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        await self.client.close()
        try:
            async with asyncio.timeout(deadline_s):
                await task
        except TimeoutError:
            task.cancel()
            log.warning("AMI listener did not stop in time; cancelled")

    async def __aenter__(self) -> AMIListener:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _on_event(self, msg: Message) -> None:
        # Triggers are pure and fast; publish is the bus's, which never waits on a
        # subscriber: an AgentCalled is on the bus before the next event is read.
        for event in self.triggers.feed(msg, now=self._clock()):
            self._publish(event)
            self.published += 1


def _report_crash(task: asyncio.Task[None]) -> None:
    """`run()` only returns on `close()`: anything else is a bug to shout about now,
    not at shutdown when `stop()` awaits the task."""
    if not task.cancelled() and task.exception() is not None:
        log.error("AMI listener stopped", exc_info=task.exception())
