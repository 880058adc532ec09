"""The web server `serve` runs: idle and half-sent connections closed after their
deadline, connections per address limited, and FastAGI still answering calls while
web clients hold every descriptor they are allowed."""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from callpop.config import Config
from callpop.pbx_sim.fastagi import call_fastagi
from callpop.serve import make_runner
from callpop.web_server import ConnectionLimits, GuardedSite, body_deadline, web_budget
from tests.callpop.serving import start_serve
from tests.callpop.test_serve import _billing_call, _wait_ready, _write_config
from tests.ports import free_port as _free_port

DEADLINE_S = 5.0


async def echo(request: web.Request) -> web.Response:
    return web.Response(text=f"{len(await request.read())}\n")


@pytest.fixture
async def site() -> AsyncIterator[tuple[int, ConnectionLimits]]:
    """A guarded server with short deadlines: 0.3 s for a head or a body, 0.5 s idle,
    three connections per address."""
    app = web.Application(middlewares=[body_deadline(0.3)])
    app.router.add_route("*", "/", echo)
    config = Config(web_limits={"idle_timeout_s": 0.5})
    runner = make_runner(app, config)
    await runner.setup()
    limits = ConnectionLimits(header_timeout_s=0.3, per_address=3, total=100)
    site = GuardedSite(runner, "127.0.0.1", 0, limits)
    await site.start()
    try:
        yield runner.addresses[0][1], limits
    finally:
        await runner.cleanup()


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (fails the test if it never does)."""
    async with asyncio.timeout(DEADLINE_S):
        return await reader.read()


async def test_a_connection_that_sends_nothing_is_closed(
    site: tuple[int, ConnectionLimits],
) -> None:
    port, limits = site
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await closed_by_server(reader) == b""
    writer.close()
    assert limits.timed_out == 1


async def test_a_half_sent_head_is_closed(site: tuple[int, ConnectionLimits]) -> None:
    port, _limits = site
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert await closed_by_server(reader) == b""
    writer.close()


async def test_a_half_sent_body_gets_408_and_is_closed(site: tuple[int, ConnectionLimits]) -> None:
    port, _limits = site
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    answer = await closed_by_server(reader)
    assert answer.startswith(b"HTTP/1.1 408 ")
    writer.close()


async def test_an_idle_keep_alive_connection_is_closed(site: tuple[int, ConnectionLimits]) -> None:
    port, _limits = site
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    answer = await closed_by_server(reader)  # served, then idle past 0.5 s
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n3\n")
    writer.close()


async def test_one_address_gets_its_connections_and_a_503_past_them(
    site: tuple[int, ConnectionLimits], caplog: pytest.LogCaptureFixture
) -> None:
    port, limits = site
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    caplog.set_level(logging.INFO, logger="callpop.web")
    for _ in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await closed_by_server(reader)).startswith(b"HTTP/1.1 503 ")
        writer.close()
    assert limits.refused == 2
    for _, writer in held:
        writer.close()
    await asyncio.sleep(0.1)
    refusing = [r.getMessage() for r in caplog.records if "refusing more" in r.getMessage()]
    assert refusing == ["web: 127.0.0.1 holds 3 connections; refusing more from it"]
    assert any("below its connection limit again" in r.getMessage() for r in caplog.records)
    assert limits.open == 0


def test_the_web_gets_what_the_open_file_limit_leaves_beside_fastagis_reserve() -> None:
    assert web_budget(1024, in_use=40, reserve=512, configured=None) == 472
    assert web_budget(1024, in_use=40, reserve=512, configured=100) == 100
    assert web_budget(256, in_use=40, reserve=512, configured=None) == 16  # never none


def _low_fd_limit(soft: int, hard: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.slow
async def test_idle_web_sockets_under_a_low_fd_limit_leave_fastagi_serving_calls(
    tmp_path: Path,
) -> None:
    agi_port, web_port = _free_port(), _free_port()
    config = _write_config(tmp_path, fastagi=agi_port, web=web_port)
    with config.open("a", encoding="utf-8") as extra:
        # heads may take a minute here: the sockets must stay idle through the test
        extra.write(
            "web_limits:\n  header_timeout_s: 120\n  idle_timeout_s: 120\n"
            "  connections_per_address: 10000\n  fastagi_fd_reserve: 100\n"
        )
    proc = await start_serve(
        config, web_secret="k" * 32, preexec_fn=lambda: _low_fd_limit(200, 300)
    )
    idle: list[asyncio.StreamWriter] = []
    try:
        await _wait_ready(web_port, proc)
        # as many idle web sockets as the process could ever open, and more
        for _ in range(400):
            try:
                idle.append((await asyncio.open_connection("127.0.0.1", web_port))[1])
            except OSError:
                break
        await asyncio.sleep(0.5)
        records = await asyncio.wait_for(
            asyncio.gather(
                *(call_fastagi("127.0.0.1", agi_port, _billing_call(n)) for n in range(20))
            ),
            60,
        )
        assert [r.variables.get("CALLPOP_OUTCOME") for r in records] == ["queue"] * 20
    finally:
        for writer in idle:
            writer.close()
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    log = err.decode()
    assert "open files: limit raised from 200 to 300" in log
    assert "refusing new ones" in log
    assert log.count("refusing new ones") == 1  # once per change of state, not per socket
    assert "Traceback" not in log
