"""`callpop demo` as a newcomer runs it: a fresh database, the URLs and logins printed,
the test phone served, a clean stop on SIGTERM; a busy port is named."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.demo.conftest import OPEN_TUESDAY, REPO

CALLPOP = str(Path(sys.executable).with_name("callpop"))
BOUND_S = 60.0  # a bound on each wait, never a synchronisation


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CALLPOP_")}


async def start_demo(database: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        CALLPOP,
        "demo",
        "--fastagi-port",
        "0",
        "--database",
        str(database),
        "--customers",
        "20",
        "--at",
        OPEN_TUESDAY.isoformat(),
        *args,
        cwd=REPO,
        env=environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_callpop_demo_prints_urls_and_logins_serves_the_phone_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    database = tmp_path / "demo.db"
    database.write_bytes(b"last week's demo, or anything else: it is replaced")
    demo = await start_demo(database, "--port", "0")
    assert demo.stdout is not None and demo.stderr is not None
    banner: list[str] = []
    try:
        async with asyncio.timeout(BOUND_S):
            while not any(line.startswith("  Try it") for line in banner):
                line = await demo.stdout.readline()
                assert line, "callpop demo ended before printing its banner"
                banner.append(line.decode())
            text = "".join(banner)
            phone = re.search(r"Test phone\s+(http://127\.0\.0\.1:\d+/demo/phone)", text)
            assert phone is not None, text
            async with aiohttp.ClientSession() as http:
                response = await http.get(phone.group(1))
                assert response.status == 200
    finally:
        demo.send_signal(signal.SIGTERM)
        async with asyncio.timeout(BOUND_S):
            _rest, errors = await demo.communicate()
    assert demo.returncode == 0, errors.decode()
    assert "log in as alice / alice  or  bob / bob" in text
    assert "log in as sam / sam" in text
    assert "20 demo customers" in text
    assert re.search(r"Agent desk\s+http://127\.0\.0\.1:\d+/agent", text)
    assert "IVR clock    starts at Tue 24 Nov 10:30 America/New_York" in text
    assert database.read_bytes().startswith(b"SQLite format 3\x00")


async def test_a_busy_web_port_is_named_and_the_demo_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        demo = await start_demo(tmp_path / "demo.db", "--port", str(port))
        async with asyncio.timeout(BOUND_S):
            _out, errors = await demo.communicate()
    assert demo.returncode == 1
    assert f"cannot listen for the web app on 127.0.0.1:{port}: the port is already in use" in (
        errors.decode()
    )
