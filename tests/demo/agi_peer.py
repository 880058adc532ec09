"""callpop's side of a FastAGI session, scripted by a test: a server on 127.0.0.1:0
that hands each connection to the test, which sends commands and reads answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass
class Session:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        while (line := await self.line()) != b"":
            key, _, value = line.decode().partition(": ")
            env[key] = value
        return env

    async def line(self) -> bytes:
        raw = await self.reader.readline()
        if not raw.endswith(b"\n"):
            raise EOFError(f"the connection ended: {raw!r}")
        return raw[:-1]

    async def command(self, line: bytes) -> bytes:
        """Send one command, return the first line of its answer."""
        self.writer.write(line + b"\n")
        await self.writer.drain()
        return await self.line()

    async def close(self) -> bytes:
        """Half-close as callpop does at the end; returns what Asterisk sent after."""
        self.writer.write_eof()
        rest = await self.reader.read()
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
        return rest


@asynccontextmanager
async def agi_peer() -> AsyncIterator[tuple[int, asyncio.Queue[Session]]]:
    """(port, sessions): each connection arrives on the queue as a Session."""
    sessions: asyncio.Queue[Session] = asyncio.Queue()
    done = asyncio.Event()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await sessions.put(Session(reader, writer))
        await done.wait()  # the test owns the connection until the peer stops

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], sessions
    finally:
        done.set()
        server.close()
        await server.wait_closed()
