"""The shared watchdog: one deadline per watched call, set by each wait and cleared after."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agi_scripts import commands as c
from agi_scripts.channel import AgiChannel
from agi_scripts.codec import AgiConnection, Response
from agi_scripts.deadline import NEVER
from agi_scripts.watchdog import Watchdog
from agi_scripts.wire import AgiWire
from ivr.ports import ChannelGone

from .transcripts import load

ENV = load("ivr-exten-7000.txt").environment


class Waiter:
    def __init__(self, until: float) -> None:
        self.until = until
        self.expired = 0

    def expire(self) -> None:
        self.expired += 1


def test_only_waits_past_their_deadline_expire_and_each_once() -> None:
    watchdog = Watchdog()
    due, later, idle, forgotten = Waiter(10.0), Waiter(10.5), Waiter(NEVER), Waiter(1.0)
    for waiter in (due, later, idle, forgotten):
        watchdog.watch(waiter)
    watchdog.forget(forgotten)
    watchdog.expire_due(10.0)
    assert (due.expired, later.expired, idle.expired, forgotten.expired) == (1, 0, 0, 0)
    assert due.until == NEVER  # expired once: the next sweep passes it by
    watchdog.expire_due(11.0)
    assert (due.expired, later.expired, idle.expired, forgotten.expired) == (1, 1, 0, 0)


class Transport:
    """Takes the channel's bytes; the test answers by hand."""

    def __init__(self, wire: AgiWire) -> None:
        self.wire = wire
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True
        asyncio.get_running_loop().call_soon(self.wire.connection_lost, None)

    def get_extra_info(self, name: str) -> Any:
        return None


async def test_a_channel_has_a_deadline_only_while_it_waits_for_asterisk() -> None:
    watchdog = Watchdog()
    wire = AgiWire(AgiConnection())
    wire.connection_made(Transport(wire))
    channel = AgiChannel(wire, watchdog=watchdog)
    wire.data_received(ENV)
    await channel.receive_environment()
    assert channel.until == NEVER
    loop = asyncio.get_running_loop()
    answering = asyncio.create_task(channel.run(c.answer(), 7.0))
    await asyncio.sleep(0)
    assert loop.time() < channel.until <= loop.time() + 7.0
    wire.data_received(b"200 result=0\n")
    assert await answering == Response(c.answer(), "0")
    assert channel.until == NEVER
    # Past the deadline, the sweep cuts the wait: the session is over, as a timeout.
    waiting = asyncio.create_task(channel.run(c.answer(), 7.0))
    await asyncio.sleep(0)
    watchdog.expire_due(channel.until)
    with pytest.raises(ChannelGone, match="timeout"):
        await waiting
    assert channel.broken_detail == "no answer to ANSWER within 7s"
    assert channel.until == NEVER
