"""`ami:` as a list: `callpop serve` listens to every Asterisk listed, each through a
listener of its own (SQLite: one instance, no lease), and their queue events reach the
one pop bus."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from callpop.config import load_config
from callpop.pbx_sim.ami import AMIServer
from callpop.pbx_sim.ami_events import Ids
from callpop.pbx_sim.ami_status import QueueBoard
from callpop.serve import build_app, build_runtime
from tests.ami.test_ami_instances import FLOW

from .scripted import queue_call, take


async def test_every_asterisk_listed_is_listened_to_and_pops_through_the_one_bus(
    tmp_path: Path,
) -> None:
    (tmp_path / "dialplan" / "flows").mkdir(parents=True)
    (tmp_path / "dialplan" / "flows" / "main.yaml").write_text(FLOW, encoding="utf-8")
    quiet = [QueueBoard([])]  # Asterisks with nobody in their queues: an empty resync
    async with (
        AMIServer(secret="east-pw", answers=quiet) as east,
        AMIServer(secret="west-pw", answers=quiet) as west,
    ):
        config_file = tmp_path / "callpop.yaml"
        config_file.write_text(
            "fastagi: 127.0.0.1:0\nweb: 127.0.0.1:0\ndatabase: sqlite:///./callpop.db\n"
            "dialplan: ./dialplan\nami:\n"
            f"  - {{port: {east.port}, name: east}}\n"
            f"  - {{port: {west.port}, name: west}}\n",
            encoding="utf-8",
        )
        environ = {"CALLPOP_AMI__0__SECRET": "east-pw", "CALLPOP_AMI__1__SECRET": "west-pw"}
        config = load_config(config_file, environ=environ)
        runtime = await build_runtime(config, environ=environ)
        runner = web.AppRunner(build_app(runtime))
        try:
            async with runtime.bus.subscribe(None) as stream:
                await runner.setup()
                async with asyncio.timeout(10):
                    await east.wait_logins(1)
                    await west.wait_logins(1)
                ids = Ids("1800000000", 700)
                east.emit(queue_call("call-east", "1800000000.1", ids).joined())
                west.emit(queue_call("call-west", "1800000000.2", ids).joined())
                joined: set[tuple[str, str]] = set()
                while len(joined) < 2:
                    [event] = await take(stream, 1, timeout_s=10)
                    if event.type == "queue.joined":
                        joined.add((event.type, event.call_id))
        finally:
            await runner.cleanup()
            await runtime.aclose()
    assert joined == {("queue.joined", "call-east"), ("queue.joined", "call-west")}
