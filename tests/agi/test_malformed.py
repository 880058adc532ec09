"""Malformed input from a peer ends that one connection with one log line; the server
goes on serving everyone else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from agi_scripts.channel import Timeouts
from callpop.pbx_sim.fastagi import call_fastagi
from callpop.pbx_sim.script import CallerScript
from ivr import variables as v
from ivr.compiled import CompiledFlows

from .harness import MemoryServices, fastagi
from .transcripts import load

ENV = load("ivr-exten-7000.txt").environment
SHORT = Timeouts(environment=0.5, command=0.5, prompt=0.5, slack=0.5, close=0.3)

Peer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def garbage_environment(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"GET / HTTP/1.1\r\nHost: callpop\r\n\r\n")
    await reader.read()  # until the server closes


async def truncated_response(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(ENV)
    await reader.readline()  # GET VARIABLE "CHANNEL(linkedid)"
    writer.write(b"200 resu")
    writer.close()


async def unknown_code(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(ENV)
    await reader.readline()
    writer.write(b"300 result=1\n")
    await reader.read()


async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(ENV)
    await reader.readline()
    await asyncio.Event().wait()  # reads nothing more, answers nothing, never closes


async def environment_never_ends(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(ENV[:200])
    await reader.read()


async def endless_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"agi_request: " + b"x" * 100_000)
    await reader.read()


async def closes_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"agi_network: yes\n")
    writer.close()


PEERS: dict[str, tuple[Peer, str]] = {
    "garbage environment": (garbage_environment, "no valid AGI environment"),
    "truncated response": (truncated_response, "middle of a line"),
    "unknown code": (unknown_code, "not an AGI response"),
    "peer that stops answering": (
        never_answers,
        "timeout (no answer to GET VARIABLE within 0.5s)",
    ),
    "environment that never ends": (
        environment_never_ends,
        "no valid AGI environment (no environment block within 0.5s)",
    ),
    "line without end": (endless_line, "longer than"),
    "closed mid-environment": (closes_at_once, "before the end of the environment"),
}


@pytest.mark.parametrize("case", list(PEERS))
async def test_a_bad_peer_costs_one_connection_and_one_log_line(
    case: str, sample_flows: CompiledFlows, caplog: pytest.LogCaptureFixture
) -> None:
    peer, expected = PEERS[case]
    services = MemoryServices()
    async with fastagi(sample_flows, services, timeouts=SHORT) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        bad = asyncio.ensure_future(peer(reader, writer))
        good = await call_fastagi("127.0.0.1", server.port, CallerScript.parse("1 2"), path="ivr")
        await server.wait_idle()
        bad.cancel()
        writer.close()
    assert good.variables[v.OUTCOME] == "queue"  # served while the bad peer was connected
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    assert problems[0].name == "agi_scripts.server"
    assert expected in problems[0].getMessage()
    assert problems[0].exc_info is None  # a peer's fault: no traceback
