"""FastAGI takes every call queued in the kernel at once (agi_scripts/listener.py),
where uvloop's libuv would accept one per loop iteration: a loop busy with thousands
of calls would otherwise take new calls slower than they come."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
import uvloop

from agi_scripts.request import AgiRequest, Route
from agi_scripts.server import FastAgiServer

CALLS = 40


async def held(request: AgiRequest) -> None:
    await asyncio.sleep(3600)


async def loop_turns_to_take_a_burst(server: FastAgiServer | None) -> int:
    """Loop iterations taken to accept CALLS calls that queued in the kernel while the
    loop was busy: by `server`, or by a bare `loop.create_server` (None)."""
    accepted: list[asyncio.BaseTransport] = []
    bare: asyncio.Server | None = None
    if server is None:

        class Count(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted.append(transport)

        bare = await asyncio.get_running_loop().create_server(Count, "127.0.0.1", 0)
        port = bare.sockets[0].getsockname()[1]
    else:
        await server.start()
        port = server.port

    def taken() -> int:
        return len(accepted) if server is None else server.live_calls

    burst: list[socket.socket] = []
    try:
        # Dialled from the loop's own thread: the loop is busy meanwhile (the kernel
        # completes each handshake), so every call waits in the accept queue.
        for _ in range(CALLS):
            burst.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.1)  # noqa: ASYNC251 -- the loop must be busy, as under load
        turns = 0
        while taken() < CALLS and turns < 10 * CALLS:
            await asyncio.sleep(0)
            turns += 1
        assert taken() == CALLS
        return turns
    finally:
        for sock in burst:
            sock.close()
        if bare is not None:
            bare.close()
        if server is not None:
            await server.shutdown(grace_s=0)


def test_on_uvloop_a_bare_server_takes_one_queued_call_per_loop_iteration() -> None:
    # Why the listener exists (libuv's choice): the last call's connection_made comes
    # in the turn after its accept.
    assert uvloop.run(loop_turns_to_take_a_burst(None)) >= CALLS - 1


def test_on_uvloop_fastagi_takes_a_queued_burst_in_a_few_loop_iterations() -> None:
    server = FastAgiServer([Route("ivr", held)], host="127.0.0.1", port=0)
    assert uvloop.run(loop_turns_to_take_a_burst(server)) <= 5


async def test_on_asyncio_fastagi_takes_a_queued_burst_in_a_few_loop_iterations() -> None:
    server = FastAgiServer([Route("ivr", held)], host="127.0.0.1", port=0)
    assert await loop_turns_to_take_a_burst(server) <= 5


async def test_a_port_in_use_is_refused_as_before() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = FastAgiServer([Route("ivr", held)], host="127.0.0.1", port=taken.getsockname()[1])
        with pytest.raises(OSError, match="in use"):
            await server.start()
    assert server.sockets == [] and not server.accepting
