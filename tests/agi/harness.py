"""Helpers shared by the AGI tests: a one-connection server to drive the simulator."""

from __future__ import annotations

import asyncio
from typing import Any

from callpop.pbx_sim.fastagi import CallRecord, call_fastagi
from callpop.pbx_sim.script import CallerScript


async def against(
    handler: Any, script: CallerScript, **kwargs: Any
) -> CallRecord:
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
