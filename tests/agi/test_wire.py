"""The FastAGI I/O layer: a Protocol feeding the codec (agi_scripts/wire.py), what it
keeps per call, and how the server ends calls at shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi_scripts import commands as c
from agi_scripts.codec import AgiConnection, Environment, Response
from agi_scripts.request import AgiRequest, Route
from agi_scripts.wire import AgiWire
from callpop.pbx_sim.agi_channel import SimOptions
from callpop.pbx_sim.fastagi import call_fastagi
from callpop.pbx_sim.script import CallerScript
from ivr.compiled import CompiledFlows

from .harness import MemoryServices, fastagi
from .transcripts import load

ENV = load("env-callerid.txt").environment


async def connected_wire() -> tuple[AgiWire, asyncio.StreamWriter, asyncio.Server]:
    """An AgiWire on the server side of a real TCP connection; the peer's writer."""
    made: asyncio.Future[AgiWire] = asyncio.get_running_loop().create_future()

    def factory() -> AgiWire:
        return AgiWire(AgiConnection(), made.set_result)

    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    return await made, writer, server


async def test_an_event_split_across_reads_is_delivered_once_whole() -> None:
    wire, peer, server = await connected_wire()
    async with server:
        for i in range(0, len(ENV), 7):
            peer.write(ENV[i : i + 7])
            await peer.drain()
        event = wire.conn.next_event()
        if not isinstance(event, Environment):
            event = await wire.wait_event()
        assert isinstance(event, Environment) and event.uniqueid
        wire.conn.send(c.answer())
        peer.write(b"200 result=0\n")
        assert await wire.wait_event() == Response(c.answer(), "0")
        peer.close()
        await wire.close()
        await peer.wait_closed()


async def test_a_peer_flooding_with_nobody_waiting_is_not_read_into_memory() -> None:
    wire, peer, server = await connected_wire()
    async with server:
        peer.write(ENV)
        assert isinstance(await wire.wait_event(), Environment)
        # No command in flight, nobody waiting: Asterisk would send nothing but HANGUP.
        peer.write(b"x" * 4_000_000)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await peer.drain()  # the server stopped reading: our buffers fill up
        assert wire.conn.buffered < 1_000_000
        peer.transport.abort()
        await wire.close()


async def test_a_reset_connection_fails_the_wait_with_the_error() -> None:
    wire, peer, server = await connected_wire()
    async with server:
        peer.write(ENV)
        assert isinstance(await wire.wait_event(), Environment)
        wire.conn.send(c.answer())
        waiting = wire.wait_event()
        # Close with RST, not FIN: a connection reset, no EOF.
        sock = peer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.transport.abort()
        with pytest.raises((ConnectionError, OSError)):
            async with asyncio.timeout(5):
                await waiting
        await wire.close()


def test_the_environment_block_is_kept_once() -> None:
    conn = AgiConnection()
    conn.receive_data(ENV)
    env = conn.next_event()
    assert isinstance(env, Environment)
    # The codec gave its dict to the event: nothing else in it holds the block (its
    # intern table holds the name `uniqueid`, never the call's own uniqueid).
    blocks = [
        o
        for o in gc.get_referents(*gc.get_referents(conn))
        if isinstance(o, dict) and o.get("uniqueid") == env.uniqueid
    ]
    assert blocks == []
    # An Environment built from a caller's dict stays a value: later changes don't show.
    values = {"request": "agi://x/ivr"}
    built = Environment(values)
    values["request"] = "changed"
    assert built.request == "agi://x/ivr"


@given(st.text())
def test_quoting_without_escapes_is_the_same_as_the_general_rule(text: str) -> None:
    general = '"' + c._CONTROL.sub(" ", text).replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert c.quote(text) == general


def test_the_same_command_encodes_to_the_same_bytes_each_time() -> None:
    first = c.stream_file("acme-main-menu", c.ALL_KEYS)
    again = c.stream_file("acme-main-menu", c.ALL_KEYS)
    assert first.encode() == again.encode() == b'STREAM FILE "acme-main-menu" "0123456789*#"\n'
    assert c.stream_file("other", "").encode() == b'STREAM FILE "other" ""\n'


async def test_calls_cancelled_at_shutdown_end_with_one_summary_line(
    sample_flows: CompiledFlows, caplog: pytest.LogCaptureFixture
) -> None:
    answered: list[str] = []
    all_held = asyncio.Event()

    async def hold_forever(request: AgiRequest) -> None:
        # Unlike the IVR route (which hands the call back), cancellation goes through.
        await request.channel.answer()
        answered.append(request.environment.uniqueid)
        if len(answered) == 20:
            all_held.set()
        await asyncio.Event().wait()

    caplog.set_level(logging.INFO)
    server_ctx = fastagi(sample_flows, MemoryServices(), extra=[Route("hold", hold_forever)])
    server = await server_ctx.__aenter__()
    try:
        calls = [
            asyncio.create_task(
                call_fastagi(
                    "127.0.0.1",
                    server.port,
                    CallerScript.parse("", uniqueid=f"1.{i}"),
                    path="hold",
                    options=SimOptions(time_scale=1.0),
                )
            )
            for i in range(20)
        ]
        await asyncio.wait_for(all_held.wait(), 30)
        await server.shutdown(grace_s=0)
        records = await asyncio.wait_for(asyncio.gather(*calls), 30)
    finally:
        await server_ctx.__aexit__(None, None, None)
    assert server.live_calls == 0
    assert all(r.route() == "operator" for r in records)  # CALLPOP_OUTCOME empty
    # No traceback per connection (asyncio's "Exception in callback ...") nor any other.
    assert [r for r in caplog.records if r.exc_info or r.name == "asyncio"] == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["FastAGI stopping: cancelling 20 call(s) after the grace period"]
